using System.Text;
using DatasetPlatform.Tests.Infrastructure;
using Npgsql;

namespace DatasetPlatform.Tests;

/// <summary>
/// A small upload into a small keyed dataset merges in place (its rows go straight into the dataset's table; the ones that change
/// nothing are deleted again), a bigger one through a staging table. Each case runs both ways on the same rows, the bigger one made
/// bigger by an ignored column only (DP_MERGE_IN_PLACE_MAX_BYTES is <see cref="PlatformFixture.MergeInPlaceMaxBytes"/> in tests),
/// and expects the same answer: rows, versions, counts, and refusals that leave the dataset as it was.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class InPlaceMergeTests(PlatformFixture platform)
{
    private const string Manifest = """
        [{"sourceName":"Date","dataType":"Date","isEntity":true,"dateFormat":"%Y-%m-%d"},{"sourceName":"Country","dataType":"String","isEntity":true},
         {"sourceName":"Amount","dataType":"Decimal"},{"sourceName":"Label","dataType":"String"},{"sourceName":"Pad","ignore":true}]
        """;

    private const string Seed =
        "Date,Country,Amount,Label\n" +
        "2020-01-01,USA,1,a\n2020-01-01,ARG,2,b\n2020-01-02,USA,3,c\n2020-01-02,ARG,4,d\n2020-01-03,USA,5,e\n2020-01-03,ARG,6,f\n";

    // Changed (USA 01-01: amount; ARG 01-02: label), unchanged (ARG 01-01, spelled 2.0; USA 01-03), new (BRA 01-04, USA 01-05).
    private const string Upsert =
        "Date,Country,Amount,Label\n" +
        "2020-01-01,USA,10,a\n2020-01-01,ARG,2.0,b\n2020-01-02,ARG,4,dd\n2020-01-03,USA,5,e\n2020-01-04,BRA,7,g\n2020-01-05,USA,8,h\n";

    public enum MergeWay { InPlace, StagingTable }

    [Theory]
    [InlineData(MergeWay.InPlace)]
    [InlineData(MergeWay.StagingTable)]
    public async Task An_upsert_updates_changed_rows_adds_new_ones_and_keeps_unchanged_rows_in_their_version(MergeWay way)
    {
        var (api, datasetId) = await SeededAsync();
        var process = await api.UploadAndWaitAsync(datasetId, Shaped(Upsert, way), query: "?onConflictUpdateDB=true");
        Assert.Equal("4 values added to database. 4 values updated.", process.GetProperty("statusDescription").GetString());
        Assert.Equal(1, process.GetProperty("version").GetInt32());
        Assert.Equal([
            "ARG,2020-01-01,2,b", "ARG,2020-01-02,4,dd", "ARG,2020-01-03,6,f", "BRA,2020-01-04,7,g", "USA,2020-01-01,10,a", "USA,2020-01-02,3,c",
            "USA,2020-01-03,5,e", "USA,2020-01-05,8,h",
        ], Rows(await api.DownloadAsync(datasetId)));
        Assert.Equal(Rows(Reordered(Seed)), Rows(await api.DownloadAsync(datasetId, "?version=0")));
        // Only the two changed and the two new rows belong to version 1; the unchanged ones are still version 0's.
        Assert.Equal(4L, await ScalarAsync($"SELECT count(*) FROM dp_data.ds_{datasetId} WHERE _vf = 1"));
        Assert.Equal(8L, await ScalarAsync($"SELECT count(*) FROM dp_data.ds_{datasetId} WHERE _vt IS NULL"));
        await ExpectTableWritesAsync(datasetId, way, uploadRows: 6, unchanged: 2);

        // The same rows again change nothing and make no version; a later change then takes version 2.
        var again = await api.UploadAndWaitAsync(datasetId, Shaped(Upsert.Replace("2.0,", "2,"), way), query: "?onConflictUpdateDB=true");
        Assert.Equal("0 values added to database.", again.GetProperty("statusDescription").GetString());
        Assert.Equal(1, (await api.GetJsonAsync($"/datasets/{datasetId}")).GetProperty("currentVersion").GetInt32());
        Assert.Equal(4L, await ScalarAsync($"SELECT count(*) FROM dp_data.ds_{datasetId} WHERE _vf > 0"));
        var later = await api.UploadAndWaitAsync(datasetId, Shaped("Date,Country,Amount,Label\n2020-01-05,USA,9,h\n", way), query: "?onConflictUpdateDB=true");
        Assert.Equal("0 values added to database. 2 values updated.", later.GetProperty("statusDescription").GetString());
        Assert.Equal(2, later.GetProperty("version").GetInt32());
    }

    [Theory]
    [InlineData(MergeWay.InPlace)]
    [InlineData(MergeWay.StagingTable)]
    public async Task Without_flags_live_keys_keep_their_values_and_only_new_keys_are_added(MergeWay way)
    {
        var (api, datasetId) = await SeededAsync();
        var process = await api.UploadAndWaitAsync(datasetId, Shaped(Upsert, way));
        Assert.Equal("4 values added to database.", process.GetProperty("statusDescription").GetString());
        Assert.Equal(Rows(Reordered(Seed)).Concat(["BRA,2020-01-04,7,g", "USA,2020-01-05,8,h"]).Order(StringComparer.Ordinal),
            Rows(await api.DownloadAsync(datasetId)));
        Assert.Equal(2L, await ScalarAsync($"SELECT count(*) FROM dp_data.ds_{datasetId} WHERE _vf = 1"));
    }

    [Theory]
    [InlineData(MergeWay.InPlace)]
    [InlineData(MergeWay.StagingTable)]
    public async Task DeleteMissing_closes_the_live_keys_the_upload_lacks_and_counts_unchanged_rows_as_present(MergeWay way)
    {
        var (api, datasetId) = await SeededAsync();
        var process = await api.UploadAndWaitAsync(datasetId, Shaped(Upsert, way), query: "?onConflictUpdateDB=true&deleteMissingFromDB=true");
        // USA 01-02, ARG 01-03 are missing: 2 rows x 2 value columns.
        Assert.Equal("4 values added to database. 4 values updated. 4 values deleted.", process.GetProperty("statusDescription").GetString());
        Assert.Equal(["ARG,2020-01-01,2,b", "ARG,2020-01-02,4,dd", "BRA,2020-01-04,7,g", "USA,2020-01-01,10,a", "USA,2020-01-03,5,e", "USA,2020-01-05,8,h"],
            Rows(await api.DownloadAsync(datasetId)));
        Assert.Equal(Rows(Reordered(Seed)), Rows(await api.DownloadAsync(datasetId, "?version=0")));

        // Without onConflictUpdate too: the live keys the upload has stay as they are, the rest close.
        var keep = await api.UploadAndWaitAsync(datasetId, Shaped("Date,Country,Amount,Label\n2020-01-04,BRA,70,x\n2020-01-06,ARG,1,z\n", way),
            query: "?deleteMissingFromDB=true");
        Assert.Equal("2 values added to database. 10 values deleted.", keep.GetProperty("statusDescription").GetString());
        Assert.Equal(["ARG,2020-01-06,1,z", "BRA,2020-01-04,7,g"], Rows(await api.DownloadAsync(datasetId)));
    }

    [Theory]
    [InlineData(MergeWay.InPlace)]
    [InlineData(MergeWay.StagingTable)]
    public async Task A_new_column_is_added_empty_for_live_rows_and_makes_every_row_that_carries_it_a_change(MergeWay way)
    {
        var (api, datasetId) = await SeededAsync();
        var upload = "Date,Country,Amount,Label,Rank\n2020-01-01,USA,1,a,\n2020-01-01,ARG,2,b,5\n2020-01-07,USA,1,q,6\n";
        var process = await api.UploadAndWaitAsync(datasetId, Shaped(upload, way), query: "?onConflictUpdateDB=true&acceptNewColumns=true");
        // USA 01-01 is unchanged (an empty Rank is what the live row has); ARG 01-01 changed; USA 01-07 is new.
        Assert.Equal("3 values added to database. 3 values updated.", process.GetProperty("statusDescription").GetString());
        var firstDay = await api.DownloadAsync(datasetId, "?$filter=Date eq 2020-01-01");
        Assert.StartsWith("Country,Date,Amount,Label,Rank\n", firstDay);
        Assert.Equal(["ARG,2020-01-01,2,b,5", "USA,2020-01-01,1,a,"], Rows(firstDay));
        Assert.Equal(7, Rows(await api.DownloadAsync(datasetId)).Count);
    }

    [Theory]
    [InlineData(MergeWay.InPlace)]
    [InlineData(MergeWay.StagingTable)]
    public async Task A_key_twice_in_the_upload_fails_naming_it_and_leaves_the_dataset_as_it_was(MergeWay way)
    {
        var (api, datasetId) = await SeededAsync();
        var before = await api.DownloadAsync(datasetId);
        var process = await api.UploadAndWaitAsync(datasetId, Shaped(Upsert + "2020-01-04,BRA,9,g\n", way), query: "?onConflictUpdateDB=true");
        Assert.Equal("Error", process.GetProperty("status").GetString());
        var reason = process.GetProperty("statusDescription").GetString()!;
        Assert.StartsWith("2 rows are duplicated.", reason);
        Assert.Contains("Country=BRA", reason);
        await ExpectUnchangedAsync(api, datasetId, before);
    }

    [Theory]
    [InlineData(MergeWay.InPlace)]
    [InlineData(MergeWay.StagingTable)]
    public async Task A_bad_value_fails_naming_its_row_and_column_and_leaves_the_dataset_as_it_was(MergeWay way)
    {
        var (api, datasetId) = await SeededAsync();
        var before = await api.DownloadAsync(datasetId);
        var process = await api.UploadAndWaitAsync(datasetId, Shaped(Upsert.Replace("2020-01-03,USA,5,e", "2020-01-03,USA,five,e"), way),
            query: "?onConflictUpdateDB=true");
        Assert.Equal("Error", process.GetProperty("status").GetString());
        Assert.Equal("Row 4, column 'Amount': 'five' is not a valid Decimal", process.GetProperty("statusDescription").GetString());
        await ExpectUnchangedAsync(api, datasetId, before);
    }

    private async Task<(ApiClient Api, long DatasetId)> SeededAsync()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(datasetId, Seed, Manifest)).GetProperty("status").GetString());
        return (api, datasetId);
    }

    /// <summary>
    /// The upload as given (in place: it must be small enough), or with an ignored Pad column that takes it past the in-place limit
    /// (the Pad column is never stored, so the rows are the same).
    /// </summary>
    private static string Shaped(string csv, MergeWay way)
    {
        var lines = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (way == MergeWay.InPlace)
        {
            Assert.True(Encoding.UTF8.GetByteCount(csv) <= PlatformFixture.MergeInPlaceMaxBytes, "the in-place upload is too big for its way");
            return csv;
        }
        var pad = new string('p', (int)(PlatformFixture.MergeInPlaceMaxBytes / (lines.Length - 1)) + 1);
        var padded = string.Concat(lines.Select((line, i) => line + "," + (i == 0 ? "Pad" : pad) + "\n"));
        Assert.True(Encoding.UTF8.GetByteCount(padded) > PlatformFixture.MergeInPlaceMaxBytes);
        return padded;
    }

    /// <summary>The seed's rows as downloads print them: Country first (the dataset's column order), then Date.</summary>
    private static string Reordered(string csv) =>
        string.Concat(csv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(',')).Select(f => $"{f[1]},{f[0]},{f[2]},{f[3]}\n"));

    private static List<string> Rows(string csv) => [.. csv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Order(StringComparer.Ordinal)];

    private async Task ExpectUnchangedAsync(ApiClient api, long datasetId, string before)
    {
        Assert.Equal(before, await api.DownloadAsync(datasetId));
        Assert.Equal(0, (await api.GetJsonAsync($"/datasets/{datasetId}")).GetProperty("currentVersion").GetInt32());
        Assert.Equal(0L, await ScalarAsync($"SELECT count(*) FROM dp_data.ds_{datasetId} WHERE _vf > 0 OR _vt IS NOT NULL"));
    }

    /// <summary>
    /// Which way the merge went, as PostgreSQL's table statistics show it: in place, every uploaded row was inserted into the table
    /// and the unchanged ones deleted again; through the staging table, only new and changed rows were inserted and none deleted.
    /// </summary>
    private async Task ExpectTableWritesAsync(long datasetId, MergeWay way, long uploadRows, long unchanged)
    {
        var seedRows = Rows(Seed).Count;
        var inserted = seedRows + (way == MergeWay.InPlace ? uploadRows : uploadRows - unchanged);
        var deleted = way == MergeWay.InPlace ? unchanged : 0;
        (long Inserted, long Deleted) seen = default;
        // Backends report their table statistics when they go idle, within about a second.
        await Poll.UntilAsync(async () =>
        {
            await using var connection = new NpgsqlConnection(platform.ConnectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("SELECT n_tup_ins, n_tup_del FROM pg_stat_user_tables WHERE relid = to_regclass(@table)", connection);
            command.Parameters.AddWithValue("table", $"dp_data.ds_{datasetId}");
            await using var reader = await command.ExecuteReaderAsync();
            if (await reader.ReadAsync()) seen = (reader.GetInt64(0), reader.GetInt64(1));
            return seen.Inserted >= inserted;
        }, TimeSpan.FromSeconds(30), () => $"{seen.Inserted} rows inserted into the table so far, {inserted} expected");
        Assert.Equal((inserted, deleted), seen);
    }

    private async Task<long> ScalarAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
