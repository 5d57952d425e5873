using System.Net;
using DatasetPlatform.Tests.Infrastructure;
using Npgsql;

namespace DatasetPlatform.Tests;

/// <summary>deleteMissingFromDB, onConflictUpdateDB, acceptNewColumns, the manifest lock, idempotent re-uploads and versions.</summary>
[Collection(nameof(PlatformCollection))]
public sealed class UploadFlagTests(PlatformFixture platform)
{
    private const string First = "Date,Country,Value\n2020-01-01,USA,1\n2020-01-01,ARG,2\n2021-01-01,USA,3\n";
    private const string Second = "Date,Country,Value\n2020-01-01,USA,10\n2022-01-01,USA,4\n";

    private async Task<(ApiClient Api, long DatasetId)> SeededAsync()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        var process = await api.UploadAndWaitAsync(datasetId, First, ApiClient.DateCountryManifest);
        Assert.Equal("Processed", process.GetProperty("status").GetString());
        return (api, datasetId);
    }

    [Fact]
    public async Task Without_flags_new_rows_are_added_and_existing_values_kept()
    {
        var (api, datasetId) = await SeededAsync();
        var process = await api.UploadAndWaitAsync(datasetId, Second, query: "?deleteMissingFromDB=False&onConflictUpdateDB=False");
        Assert.Equal("1 values added to database.", process.GetProperty("statusDescription").GetString());
        Assert.Equal("Country,Date,Value\nUSA,2020-01-01,1\nARG,2020-01-01,2\nUSA,2021-01-01,3\nUSA,2022-01-01,4\n", await api.DownloadAsync(datasetId));
    }

    [Fact]
    public async Task OnConflictUpdate_replaces_values_of_matching_keys()
    {
        var (api, datasetId) = await SeededAsync();
        var process = await api.UploadAndWaitAsync(datasetId, Second, query: "?onConflictUpdateDB=True");
        Assert.Equal("1 values added to database. 1 values updated.", process.GetProperty("statusDescription").GetString());
        Assert.Equal(1, process.GetProperty("stats").GetProperty("updatedValues").GetInt64());
        var rows = (await api.DownloadAsync(datasetId, "?$filter=Country eq 'USA'")).Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Order();
        Assert.Equal(["USA,2020-01-01,10", "USA,2021-01-01,3", "USA,2022-01-01,4"], rows);
    }

    [Fact]
    public async Task DeleteMissing_removes_rows_absent_from_the_upload_and_old_versions_stay_readable()
    {
        var (api, datasetId) = await SeededAsync();
        var process = await api.UploadAndWaitAsync(datasetId, Second, query: "?deleteMissingFromDB=true&onConflictUpdateDB=true");
        Assert.Equal("1 values added to database. 1 values updated. 2 values deleted.", process.GetProperty("statusDescription").GetString());
        Assert.Equal(1, process.GetProperty("version").GetInt32());
        Assert.Equal("Country,Date,Value\nUSA,2020-01-01,10\nUSA,2022-01-01,4\n", Sorted(await api.DownloadAsync(datasetId)));
        // Version 0 is still there, untouched, without a copy of the table.
        Assert.Equal("Country,Date,Value\nARG,2020-01-01,2\nUSA,2020-01-01,1\nUSA,2021-01-01,3\n", Sorted(await api.DownloadAsync(datasetId, "?version=0")));
        var missing = await api.Http.GetAsync($"/datasets/{datasetId}/data?version=7");
        Assert.Contains("Version 7", await ApiClient.ExpectProblemAsync(missing, HttpStatusCode.BadRequest));
    }

    [Fact]
    public async Task AcceptNewColumns_adds_columns_that_are_otherwise_unknown()
    {
        var (api, datasetId) = await SeededAsync();
        const string withExtra = "Date,Country,Value,Population\n2023-01-01,USA,5,331\n";
        var refused = await api.UploadAndWaitAsync(datasetId, withExtra);
        Assert.Equal("Unknown column(s): Population", refused.GetProperty("statusDescription").GetString());

        var accepted = await api.UploadAndWaitAsync(datasetId, withExtra, query: "?acceptNewColumns=True");
        Assert.Equal("Processed", accepted.GetProperty("status").GetString());
        Assert.Equal("Country,Date,Value,Population\nUSA,2023-01-01,5,331\n", await api.DownloadAsync(datasetId, "?$filter=Date eq 2023-01-01"));
        Assert.Equal("Country,Date,Value,Population\nUSA,2020-01-01,1,\n", await api.DownloadAsync(datasetId, "?$filter=Date eq 2020-01-01 and Country eq 'USA'"));
    }

    [Fact]
    public async Task A_locked_manifest_forces_deleteMissing_and_acceptNewColumns_off()
    {
        var (api, datasetId) = await SeededAsync();
        var lockResponse = await api.Http.PutAsync($"/datasets/{datasetId}/manifest?locked=true", null);
        Assert.True((await ApiClient.ExpectJsonAsync(lockResponse, HttpStatusCode.OK)).GetProperty("locked").GetBoolean());

        var process = await api.UploadAndWaitAsync(datasetId, Second, query: "?deleteMissingFromDB=True&acceptNewColumns=True");
        Assert.False(process.GetProperty("deleteMissingFromDB").GetBoolean());
        Assert.False(process.GetProperty("acceptNewColumns").GetBoolean());
        Assert.Equal(4, (await api.DownloadAsync(datasetId)).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length - 1);

        var replace = await api.Http.PutAsync($"/datasets/{datasetId}/manifest",
            new StringContent(ApiClient.DateCountryManifest, System.Text.Encoding.UTF8, "application/json"));
        Assert.Contains("locked", await ApiClient.ExpectProblemAsync(replace, HttpStatusCode.Conflict));
    }

    [Fact]
    public async Task An_identical_reupload_is_skipped_and_changes_nothing()
    {
        var (api, datasetId) = await SeededAsync();
        var before = await api.DownloadAsync(datasetId);
        var again = await api.UploadAndWaitAsync(datasetId, First, ApiClient.DateCountryManifest);
        Assert.Equal("Processed", again.GetProperty("status").GetString());
        Assert.StartsWith("Skipped", again.GetProperty("statusDescription").GetString());
        Assert.Equal(before, await api.DownloadAsync(datasetId));
        Assert.Equal(0, (await api.GetJsonAsync($"/datasets/{datasetId}")).GetProperty("currentVersion").GetInt32());
        // ...and again: a skip is as good a "last run" as the import it matched.
        Assert.StartsWith("Skipped", (await api.UploadAndWaitAsync(datasetId, First)).GetProperty("statusDescription").GetString());

        // Same content with a different manifest is a real run too.
        const string renamed = """[{"sourceName":"Date","dataType":"Date","isEntity":true},{"sourceName":"Country","dataType":"String","isEntity":true},{"sourceName":"Value","destinationName":"Amount"}]""";
        var withManifest = await api.UploadAndWaitAsync(datasetId, First, renamed);
        Assert.DoesNotContain("Skipped", withManifest.GetProperty("statusDescription").GetString());

        // Same content with different flags is a real run.
        var withFlag = await api.UploadAndWaitAsync(datasetId, First, query: "?onConflictUpdateDB=true");
        Assert.DoesNotContain("Skipped", withFlag.GetProperty("statusDescription").GetString());
    }

    [Fact]
    public async Task Each_change_is_a_version_row_in_the_catalog()
    {
        var (api, datasetId) = await SeededAsync();
        await api.UploadAndWaitAsync(datasetId, Second, query: "?onConflictUpdateDB=true");
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT version, row_count FROM dp.dataset_versions WHERE dataset_id = @id ORDER BY version", connection);
        command.Parameters.AddWithValue("id", datasetId);
        await using var reader = await command.ExecuteReaderAsync();
        var versions = new List<(int, long)>();
        while (await reader.ReadAsync()) versions.Add((reader.GetInt32(0), reader.GetInt64(1)));
        Assert.Equal([(0, 3L), (1, 4L)], versions);
    }

    [Fact]
    public async Task Small_upserts_into_a_bigger_dataset_go_through_an_index_of_live_keys_with_the_same_results()
    {
        // 60 live rows, then uploads of at most 4 rows: past DP_MERGE_KEY_INDEX_MIN_ROWS (40 in tests) and a tenth of the live rows,
        // so the first merge indexes the live keys and every merge here probes that index.
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        var seed = new System.Text.StringBuilder("Date,Country,Value\n");
        for (var day = 1; day <= 30; day++) seed.Append($"2020-01-{day:00},USA,{day}\n2020-01-{day:00},ARG,{100 + day}\n");
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(datasetId, seed.ToString(), ApiClient.DateCountryManifest)).GetProperty("status").GetString());

        // Changed, unchanged, changed, new.
        var first = await api.UploadAndWaitAsync(datasetId,
            "Date,Country,Value\n2020-01-01,USA,-1\n2020-01-02,USA,2\n2020-01-03,ARG,-103\n2021-01-01,USA,7\n", query: "?onConflictUpdateDB=true");
        Assert.Equal("1 values added to database. 2 values updated.", first.GetProperty("statusDescription").GetString());
        Assert.Equal(1, first.GetProperty("version").GetInt32());
        await using (var connection = new NpgsqlConnection(platform.ConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(
                "SELECT count(*) FROM pg_indexes WHERE schemaname = 'dp_data' AND tablename = @table AND indexname LIKE '%live_keys%'", connection);
            command.Parameters.AddWithValue("table", $"ds_{datasetId}");
            Assert.Equal(1L, await command.ExecuteScalarAsync());
        }

        // The index holds the rows merges insert: the row added above is found, and updated, not added again.
        var second = await api.UploadAndWaitAsync(datasetId, "Date,Country,Value\n2021-01-01,USA,8\n2020-01-01,USA,-2\n2020-01-04,USA,4\n",
            query: "?onConflictUpdateDB=true");
        Assert.Equal("0 values added to database. 2 values updated.", second.GetProperty("statusDescription").GetString());
        var current = (await api.DownloadAsync(datasetId)).Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).ToList();
        Assert.Equal(61, current.Count);
        Assert.Equal(["USA,2020-01-01,-2", "USA,2021-01-01,8"], current.Where(r => r is "USA,2020-01-01,-2" or "USA,2021-01-01,8" or "USA,2020-01-01,-1"
            or "USA,2020-01-01,1" or "USA,2021-01-01,7").Order(StringComparer.Ordinal));
        Assert.Contains("ARG,2020-01-03,-103", current);
        Assert.Equal("Country,Date,Value\nUSA,2020-01-01,1\n", await api.DownloadAsync(datasetId, "?version=0&$filter=Date eq 2020-01-01 and Country eq 'USA'"));
        Assert.Equal("Country,Date,Value\nUSA,2020-01-01,-1\n", await api.DownloadAsync(datasetId, "?version=1&$filter=Date eq 2020-01-01 and Country eq 'USA'"));
        Assert.Equal("Country,Date,Value\nUSA,2021-01-01,7\n", await api.DownloadAsync(datasetId, "?version=1&$filter=Date eq 2021-01-01"));

        // deleteMissing through the same path: everything but the three uploaded keys ends with this version.
        var third = await api.UploadAndWaitAsync(datasetId, "Date,Country,Value\n2021-01-01,USA,8\n2020-01-05,ARG,0\n2022-01-01,ARG,9\n",
            query: "?deleteMissingFromDB=true&onConflictUpdateDB=true");
        Assert.Equal("1 values added to database. 1 values updated. 59 values deleted.", third.GetProperty("statusDescription").GetString());
        Assert.Equal("Country,Date,Value\nARG,2020-01-05,0\nARG,2022-01-01,9\nUSA,2021-01-01,8\n", Sorted(await api.DownloadAsync(datasetId)));
        Assert.Equal(61, (await api.DownloadAsync(datasetId, "?version=2")).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length - 1);
    }

    private static string Sorted(string csv)
    {
        var lines = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return string.Join("\n", lines.Take(1).Concat(lines.Skip(1).Order(StringComparer.Ordinal))) + "\n";
    }
}
