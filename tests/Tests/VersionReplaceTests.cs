using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using DatasetPlatform.Tests.Infrastructure;
using Npgsql;

namespace DatasetPlatform.Tests;

/// <summary>
/// A seed-004 version replaces the whole dataset without writing the rows it replaces (their version's floor hides them): the
/// current version reads back only its own rows through every surface, each past version exactly its own, and a later merge
/// neither matches nor closes a replaced row.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class VersionReplaceTests(PlatformFixture platform)
{
    private const string Manifest =
        """[{"sourceName":"Date","dataType":"Date","isEntity":true,"dateFormat":"%Y-%m-%d"},{"sourceName":"Country","dataType":"String","isEntity":true},{"sourceName":"Amount","dataType":"Decimal"}]""";

    private HttpClient Bearer()
    {
        var http = platform.RawClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", platform.AdminKey);
        return http;
    }

    private static MultipartFormDataContent VersionForm(string csv, string description = "replace") => new()
    {
        { new StringContent(description), "description" },
        { new ByteArrayContent(Encoding.UTF8.GetBytes(csv)), "file", "version.csv" },
    };

    private async Task<int> NewVersionAsync(string datasetId, string csv)
    {
        var created = await ApiClient.ExpectJsonAsync(await Bearer().PostAsync($"/api/datasets/{datasetId}/versions", VersionForm(csv)), HttpStatusCode.Created);
        return created.GetProperty("version").GetInt32();
    }

    private async Task<string> VersionedDownloadAsync(string datasetId, string query = "")
    {
        var response = await Bearer().GetAsync($"/api/datasets/{datasetId}/download{query}");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"download{query} returned {(int)response.StatusCode}: {body}");
        return body;
    }

    private async Task<JsonElement> BearerJsonAsync(string path) => await ApiClient.ExpectJsonAsync(await Bearer().GetAsync(path), HttpStatusCode.OK);

    /// <summary>CSV data lines (no header), sorted: a merge may write rows in another physical order than the file's.</summary>
    private static List<string> Rows(string csv) => [.. csv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Order(StringComparer.Ordinal)];

    private async Task<long> ScalarAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Each_version_reads_back_its_own_rows_through_every_surface_and_no_replaced_row_is_written()
    {
        var project = (await platform.Client().GetJsonAsync($"/repositories/{await platform.Client().CreateRepositoryAsync()}")).GetProperty("id").GetInt64();
        var upload = new MultipartFormDataContent
        {
            { new StringContent(project.ToString(CultureInfo.InvariantCulture)), "project_id" },
            { new StringContent("replace" + Guid.NewGuid().ToString("N")[..6]), "name" },
            { new StringContent("d"), "description" },
            { new ByteArrayContent(Encoding.UTF8.GetBytes(V0)), "file", "v0.csv" },
        };
        var uid = (await ApiClient.ExpectJsonAsync(await Bearer().PostAsync("/api/datasets/upload", upload), HttpStatusCode.Created)).GetProperty("dataset_id").GetString()!;
        Assert.Equal(1, await NewVersionAsync(uid, V1));
        Assert.Equal(2, await NewVersionAsync(uid, V2));
        var id = await ScalarAsync($"SELECT id FROM dp.datasets WHERE uid = '{Guid.Parse(uid)}'");

        // Seed 004's download: the current version and every past one, byte for byte.
        Assert.Equal(V2, await VersionedDownloadAsync(uid));
        Assert.Equal(V2, await VersionedDownloadAsync(uid, "?version=2"));
        Assert.Equal(V1, await VersionedDownloadAsync(uid, "?version=1"));
        Assert.Equal(V0, await VersionedDownloadAsync(uid, "?version=0"));

        // The Alphacast door: JSON lines, a filter, Row-Count, a past version with a filter.
        var api = platform.Client();
        Assert.Equal(["{\"id\":4,\"amount\":40.5,\"label\":\"d\"}", "{\"id\":5,\"amount\":50.5,\"label\":\"e\"}", "{\"id\":6,\"amount\":60.5,\"label\":\"f\"}"],
            (await api.DownloadAsync(id, "?$format=json")).Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("", await api.DownloadAsync(id, "?$format=json&$filter=id le 3"));
        Assert.Equal("{\"id\":2,\"amount\":20.5,\"label\":\"b\"}\n", await api.DownloadAsync(id, "?$format=json&$filter=id le 3&version=1"));
        var counted = await api.Http.GetAsync($"/datasets/{id}/data?$top=1&$filter=amount gt 0");
        Assert.Equal(HttpStatusCode.OK, counted.StatusCode);
        Assert.Equal("3", counted.Headers.GetValues("Row-Count").Single());

        // The catalog's row counts, and statistics computed over each version's rows.
        Assert.Equal(3, (await BearerJsonAsync($"/api/datasets/{uid}")).GetProperty("dataset").GetProperty("rows").GetInt64());
        var versions = (await BearerJsonAsync($"/api/datasets/{uid}/versions")).GetProperty("items").EnumerateArray().Select(v => v.GetProperty("row_count").GetInt64());
        Assert.Equal([3L, 2L, 3L], versions);
        var current = await BearerJsonAsync($"/api/datasets/{uid}/analyze");
        var statistics = current.GetProperty("statistics");
        Assert.Equal(3, statistics.GetProperty("row_count").GetInt64());
        Assert.Equal(50.5, statistics.GetProperty("columns").GetProperty("amount").GetProperty("mean").GetDouble(), 9);
        var first = (await BearerJsonAsync($"/api/datasets/{uid}/analyze?version=0")).GetProperty("statistics");
        Assert.Equal(3, first.GetProperty("row_count").GetInt64());
        Assert.Equal(2.5, first.GetProperty("columns").GetProperty("amount").GetProperty("mean").GetDouble(), 9);
        var comparison = await BearerJsonAsync($"/api/datasets/{uid}/compare?v1=1&v2=2");
        Assert.Equal(30.5, comparison.GetProperty("column_diffs").GetProperty("amount").GetProperty("v1_mean").GetDouble(), 9);
        Assert.Equal(50.5, comparison.GetProperty("column_diffs").GetProperty("amount").GetProperty("v2_mean").GetDouble(), 9);

        // What the change is for: every row ever loaded is still in the table as it was written, none closed by an UPDATE.
        Assert.Equal(8L, await ScalarAsync($"SELECT count(*) FROM dp_data.ds_{id} WHERE _vt IS NULL"));
        Assert.Equal(0L, await ScalarAsync($"SELECT count(*) FROM dp_data.ds_{id} WHERE _vt IS NOT NULL"));
    }

    private const string V0 = "id,amount,label\n1,1.5,a\n2,2.5,b\n3,3.5,c\n";
    private const string V1 = "id,amount,label\n2,20.5,b\n4,40.5,d\n";
    // Row 4 is the same in versions 1 and 2: version 2 still reads it once.
    private const string V2 = "id,amount,label\n4,40.5,d\n5,50.5,e\n6,60.5,f\n";

    [Fact]
    public async Task A_merge_after_a_replace_inserts_a_key_only_replaced_rows_had_and_closes_no_replaced_row()
    {
        var api = platform.Client();
        var id = await api.NewDatasetAsync();
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(id, "Date,Country,Amount\n2020-01-01,USA,1.5\n2020-01-01,ARG,2.5\n2020-01-01,BRA,3.5\n", Manifest))
            .GetProperty("status").GetString());
        var v0 = Rows(await api.DownloadAsync(id));
        Assert.Equal(1, await NewVersionAsync(id.ToString(CultureInfo.InvariantCulture), "Date,Country,Amount\n2020-01-01,USA,10.5\n2020-01-01,CHL,4.5\n"));
        var v1 = Rows(await api.DownloadAsync(id));
        Assert.Equal(2, v1.Count);

        // ARG is the row version 0 had, value for value (its stored row hash too): after the replace it is a new key, not an
        // unchanged row. USA is a key of version 1, so it is updated.
        var merged = await api.UploadAndWaitAsync(id, "Date,Country,Amount\n2020-01-01,ARG,2.5\n2020-01-01,USA,11.5\n", query: "?onConflictUpdateDB=true");
        Assert.Equal("1 values added to database. 1 values updated.", merged.GetProperty("statusDescription").GetString());
        Assert.Equal(2, merged.GetProperty("version").GetInt32());
        var v2 = Rows(await api.DownloadAsync(id));
        Assert.Equal(["ARG,2020-01-01,2.5", "CHL,2020-01-01,4.5", "USA,2020-01-01,11.5"], v2);

        // deleteMissing closes the live keys the upload lacks (USA, CHL), not the replaced rows of version 0 (USA, BRA).
        var kept = await api.UploadAndWaitAsync(id, "Date,Country,Amount\n2020-01-01,ARG,2.5\n", query: "?deleteMissingFromDB=true");
        Assert.Equal("0 values added to database. 2 values deleted.", kept.GetProperty("statusDescription").GetString());
        Assert.Equal(["ARG,2020-01-01,2.5"], Rows(await api.DownloadAsync(id)));
        Assert.Equal(1, (await api.GetJsonAsync($"/datasets/{id}/date-stats")).GetProperty("rows").GetInt64());
        var counted = await api.Http.GetAsync($"/datasets/{id}/data?$top=10");
        Assert.Equal("1", counted.Headers.GetValues("Row-Count").Single());
        // A version made by a merge gets its quality report on request, over its own rows.
        var quality = await BearerJsonAsync($"/api/datasets/{id}/quality");
        Assert.Contains("0 duplicates", quality.GetRawText());

        Assert.Equal(v0, Rows(await api.DownloadAsync(id, "?version=0")));
        Assert.Equal(v1, Rows(await api.DownloadAsync(id, "?version=1")));
        Assert.Equal(v2, Rows(await api.DownloadAsync(id, "?version=2")));
        Assert.Equal(["ARG,2020-01-01,2.5"], Rows(await api.DownloadAsync(id, "?version=3")));
        Assert.Equal([3L, 2L, 3L, 1L], await RowCountsAsync(id));
    }

    [Fact]
    public async Task A_big_reupload_after_a_replace_pairs_only_with_the_current_versions_rows()
    {
        // Big enough to read the live rows' hashes and load paired with them (not in place): 150 keys.
        static string Csv(IEnumerable<(int Key, decimal Amount)> rows) =>
            "Date,Country,Amount\n" + string.Concat(rows.Select(r => FormattableString.Invariant($"2020-01-01,C{r.Key:D4},{r.Amount}\n")));
        // As downloads give them: keys first, sorted.
        static List<string> Expected(IEnumerable<(int Key, decimal Amount)> rows) =>
            [.. rows.Select(r => FormattableString.Invariant($"C{r.Key:D4},2020-01-01,{r.Amount}")).Order(StringComparer.Ordinal)];
        var api = platform.Client();
        var id = await api.NewDatasetAsync();
        var first = Enumerable.Range(0, 150).Select(k => (k, k + 0.5m)).ToList();
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(id, Csv(first), Manifest)).GetProperty("status").GetString());
        var replacing = Enumerable.Range(0, 50).Select(k => (k, k + 100.5m)).ToList();
        Assert.Equal(1, await NewVersionAsync(id.ToString(CultureInfo.InvariantCulture), Csv(replacing)));

        // Keys 0-9 change, 10-49 are unchanged, 50-149 carry exactly the values the replaced version 0 had: new keys now.
        var upload = Enumerable.Range(0, 150).Select(k => (k, k < 10 ? k + 200.5m : k < 50 ? k + 100.5m : k + 0.5m)).ToList();
        Assert.True(Encoding.UTF8.GetByteCount(Csv(upload)) > PlatformFixture.MergeInPlaceMaxBytes);
        var merged = await api.UploadAndWaitAsync(id, Csv(upload), query: "?onConflictUpdateDB=true");
        Assert.Equal("100 values added to database. 10 values updated.", merged.GetProperty("statusDescription").GetString());
        Assert.Equal(Expected(upload), Rows(await api.DownloadAsync(id)));
        Assert.Equal(Expected(replacing), Rows(await api.DownloadAsync(id, "?version=1")));
        Assert.Equal(Expected(first), Rows(await api.DownloadAsync(id, "?version=0")));
        Assert.Equal([150L, 50L, 150L], await RowCountsAsync(id));
    }

    [Fact]
    public async Task A_failed_replace_leaves_every_version_as_it_was_and_the_next_one_replaces()
    {
        var api = platform.Client();
        var id = await api.NewDatasetAsync();
        var key = id.ToString(CultureInfo.InvariantCulture);
        await api.UploadAndWaitAsync(id, "Date,Country,Amount\n2020-01-01,USA,1.5\n2020-01-01,ARG,2.5\n", Manifest);
        Assert.Equal(1, await NewVersionAsync(key, "Date,Country,Amount\n2020-01-01,USA,10.5\n2020-01-01,CHL,4.5\n"));
        var before = (Current: Rows(await api.DownloadAsync(id)), V0: Rows(await api.DownloadAsync(id, "?version=0")));

        // The key repeats on the last row: the rows are loaded, then the duplicate check fails the version.
        var failed = await Bearer().PostAsync($"/api/datasets/{key}/versions",
            VersionForm("Date,Country,Amount\n2020-01-01,BRA,5.5\n2020-01-01,PER,6.5\n2020-01-01,BRA,7.5\n"));
        var detail = await ApiClient.ExpectProblemAsync(failed, HttpStatusCode.UnprocessableEntity);
        Assert.Contains("rows are duplicated", detail);
        Assert.Contains("Country=BRA", detail);

        Assert.Equal(before.Current, Rows(await api.DownloadAsync(id)));
        Assert.Equal(before.V0, Rows(await api.DownloadAsync(id, "?version=0")));
        Assert.Equal(1, (await api.GetJsonAsync($"/datasets/{id}")).GetProperty("currentVersion").GetInt32());
        Assert.Equal([2L, 2L], await RowCountsAsync(id));
        Assert.Equal(0L, await ScalarAsync($"SELECT count(*) FROM dp_data.ds_{id} WHERE _vf = 2"));

        Assert.Equal(2, await NewVersionAsync(key, "Date,Country,Amount\n2020-01-01,BRA,5.5\n"));
        Assert.Equal(["BRA,2020-01-01,5.5"], Rows(await api.DownloadAsync(id)));
        Assert.Equal(before.Current, Rows(await api.DownloadAsync(id, "?version=1")));
    }

    private async Task<List<long>> RowCountsAsync(long id)
    {
        var versions = await BearerJsonAsync($"/api/datasets/{id}/versions");
        return [.. versions.GetProperty("items").EnumerateArray().Select(v => v.GetProperty("row_count").GetInt64())];
    }
}
