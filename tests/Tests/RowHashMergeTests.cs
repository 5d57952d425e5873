using System.Text;
using DatasetPlatform.Tests.Infrastructure;
using Npgsql;

namespace DatasetPlatform.Tests;

/// <summary>
/// The keyed merge compares stored row hashes instead of values: every kind of change is still found, spellings of the same
/// value are not changes, and rows that did not change keep their version. Each case runs the three ways a merge can go: the
/// live rows' hashes read into memory (an upload about the dataset's size), compared in the database (a small upload into a
/// bigger dataset), and a table from before the hash column (value comparison).
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class RowHashMergeTests(PlatformFixture platform)
{
    private const string Manifest = """
        [{"sourceName":"Date","dataType":"Date","isEntity":true,"dateFormat":"%Y-%m-%d"},{"sourceName":"Country","dataType":"String","isEntity":true},
         {"sourceName":"Amount","dataType":"Decimal"},{"sourceName":"Label","dataType":"String"},{"sourceName":"Count","dataType":"Integer"},
         {"sourceName":"Flag","dataType":"Boolean"}]
        """;

    private const string Header = "Date,Country,Amount,Label,Count,Flag\n";

    // One row per case: A-J as loaded first, then as uploaded again.
    private const string Before =
        "2019-01-01,A,1.0,a,1,true\n" +   // numeric spelling: 1.0 then 1.00, unchanged
        "2019-01-01,B,1,abc,1,true\n" +   // text case: abc then ABC, changed
        "2019-01-01,C,1,,1,true\n" +      // empty then empty (both NULL), unchanged
        "2019-01-01,D,1,x,1,true\n" +     // a value then empty (NULL), changed
        "2019-01-01,E,1,,1,true\n" +      // empty (NULL) then a value, changed
        "2019-01-01,F,1,f,5,true\n" +     // integer 5 then 6, changed
        "2019-01-01,G,1,g,1,true\n" +     // boolean spelling: true then 1, unchanged
        "2019-01-01,H,1,h,1,true\n" +     // boolean true then false, changed
        "2019-01-01,I,0,i,1,true\n" +     // 0 then -0 (equal in float8), unchanged
        "2019-01-01,J,2.5,j,1,true\n";    // 2.5 then 2.5000001, changed

    private const string After =
        "2019-01-01,A,1.00,a,1,true\n" +
        "2019-01-01,B,1,ABC,1,true\n" +
        "2019-01-01,C,1,,1,true\n" +
        "2019-01-01,D,1,,1,true\n" +
        "2019-01-01,E,1,e,1,true\n" +
        "2019-01-01,F,1,f,6,true\n" +
        "2019-01-01,G,1,g,1,1\n" +
        "2019-01-01,H,1,h,1,false\n" +
        "2019-01-01,I,-0,i,1,true\n" +
        "2019-01-01,J,2.5000001,j,1,true\n";

    public enum MergeWay { LiveHashesInMemory, HashesComparedInDatabase, TableWithoutHashColumn }

    /// <summary>Forty more rows that never change: a small upload of the ten cases alone is then compared in the database.</summary>
    private static readonly string Filler = string.Concat(Enumerable.Range(1, 20).Select(d => $"2020-01-{d:00},USA,{d}.5,u,{d},false\n2020-01-{d:00},ARG,{d},,{d},true\n"));

    [Theory]
    [InlineData(MergeWay.LiveHashesInMemory)]
    [InlineData(MergeWay.HashesComparedInDatabase)]
    [InlineData(MergeWay.TableWithoutHashColumn)]
    public async Task Every_kind_of_change_is_updated_and_unchanged_rows_keep_their_version(MergeWay way)
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(datasetId, Header + Before + Filler, Manifest)).GetProperty("status").GetString());
        if (way == MergeWay.TableWithoutHashColumn) await ExecuteAsync($"ALTER TABLE dp_data.ds_{datasetId} DROP COLUMN _h");
        var original = await api.DownloadAsync(datasetId);

        var upload = Header + After + (way == MergeWay.HashesComparedInDatabase ? "" : Filler);
        var process = await api.UploadAndWaitAsync(datasetId, upload, query: "?onConflictUpdateDB=true");

        // B, D, E, F, H and J changed: 6 rows x 4 value columns.
        Assert.Equal("0 values added to database. 24 values updated.", process.GetProperty("statusDescription").GetString());
        Assert.Equal(1, process.GetProperty("version").GetInt32());
        var current = Rows(await api.DownloadAsync(datasetId, "?$filter=Date eq 2019-01-01"));
        Assert.Equal([
            "A,2019-01-01,1,a,1,true", "B,2019-01-01,1,ABC,1,true", "C,2019-01-01,1,,1,true", "D,2019-01-01,1,,1,true", "E,2019-01-01,1,e,1,true",
            "F,2019-01-01,1,f,6,true", "G,2019-01-01,1,g,1,true", "H,2019-01-01,1,h,1,false", "I,2019-01-01,0,i,1,true", "J,2019-01-01,2.5000001,j,1,true",
        ], current);
        Assert.Equal(Rows(original), Rows(await api.DownloadAsync(datasetId, "?version=0")));
        // Only the changed rows were written again in version 1; the unchanged ones are still the rows of version 0.
        Assert.Equal(["B", "D", "E", "F", "H", "J"], await CountriesAsync($"SELECT c1 FROM dp_data.ds_{datasetId} WHERE _vf = 1 ORDER BY c1"));
        Assert.Equal(50L, await ScalarAsync($"SELECT count(*) FROM dp_data.ds_{datasetId} WHERE _vf = 0 AND _vt IS NULL") + 6);

        // The same values again, spelled as at first: nothing changes, no version is made.
        var again = await api.UploadAndWaitAsync(datasetId, Header + After.Replace("1.00,", "1.0,") + (way == MergeWay.HashesComparedInDatabase ? "" : Filler),
            query: "?onConflictUpdateDB=true");
        Assert.Equal("0 values added to database.", again.GetProperty("statusDescription").GetString());
        Assert.Equal(1, (await api.GetJsonAsync($"/datasets/{datasetId}")).GetProperty("currentVersion").GetInt32());
    }

    [Theory]
    [InlineData(MergeWay.LiveHashesInMemory)]
    [InlineData(MergeWay.HashesComparedInDatabase)]
    public async Task A_row_that_took_a_value_from_a_column_the_upload_lacked_is_compared_by_value_later(MergeWay way)
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(datasetId, Header + Before + Filler, Manifest)).GetProperty("status").GetString());
        var filler = way == MergeWay.HashesComparedInDatabase ? "" : Filler;

        // Without Label: A's other values changed, so its new row keeps the live Label 'a'; B's are the same (not changed, though
        // its live row has a Label the upload does not carry).
        var withoutLabel = "Date,Country,Amount,Count,Flag\n2019-01-01,A,7,1,true\n2019-01-01,B,1,1,true\n"
            + (filler.Length == 0 ? "" : string.Concat(Filler.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(r => string.Join(',', r.Split(',').Where((_, i) => i != 3)) + "\n")));
        var first = await api.UploadAndWaitAsync(datasetId, withoutLabel, query: "?onConflictUpdateDB=true");
        Assert.Equal("0 values added to database. 3 values updated.", first.GetProperty("statusDescription").GetString());
        Assert.Equal(["A,2019-01-01,7,a,1,true"], Rows(await api.DownloadAsync(datasetId, "?$filter=Country eq 'A'")));

        // Then A with every column and its Label emptied: a change (a -> NULL), although the values the file carries equal the row's
        // as the first upload saw them; and A exactly as it is now: no change.
        var emptied = await api.UploadAndWaitAsync(datasetId, Header + "2019-01-01,A,7,,1,true\n" + filler, query: "?onConflictUpdateDB=true");
        Assert.Equal("0 values added to database. 4 values updated.", emptied.GetProperty("statusDescription").GetString());
        Assert.Equal(["A,2019-01-01,7,,1,true"], Rows(await api.DownloadAsync(datasetId, "?$filter=Country eq 'A'")));
        var same = await api.UploadAndWaitAsync(datasetId, Header + "2019-01-01,A,7.0,,1,true\n" + filler, query: "?onConflictUpdateDB=true");
        Assert.Equal("0 values added to database.", same.GetProperty("statusDescription").GetString());
    }

    [Fact]
    public async Task DeleteMissing_keeps_the_unchanged_rows_of_a_whole_reupload_and_closes_the_rest()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(datasetId, Header + Before + Filler, Manifest)).GetProperty("status").GetString());
        // Everything but A and the filler's ARG rows, B to J as changed above: unchanged rows are staged as keys only, and still
        // count as present.
        var upload = Header + string.Concat(After.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(r => !r.Contains(",A,")).Select(r => r + "\n"))
            + string.Concat(Filler.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(r => r.Contains(",USA,")).Select(r => r + "\n"));
        var process = await api.UploadAndWaitAsync(datasetId, upload, query: "?onConflictUpdateDB=true&deleteMissingFromDB=true");
        Assert.Equal("0 values added to database. 24 values updated. 84 values deleted.", process.GetProperty("statusDescription").GetString());
        var current = Rows(await api.DownloadAsync(datasetId));
        Assert.Equal(29, current.Count);
        Assert.DoesNotContain(current, r => r.StartsWith("A,", StringComparison.Ordinal) || r.StartsWith("ARG,", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_key_twice_among_the_new_and_changed_rows_fails_and_leaves_the_dataset_as_it_was()
    {
        // Rows that are new or changed go straight into the dataset's table (PairedLoad): the duplicate check reads them there.
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(datasetId, Header + Before + Filler, Manifest)).GetProperty("status").GetString());
        var before = await api.DownloadAsync(datasetId);

        var changedTwice = await api.UploadAndWaitAsync(datasetId, Header + After + Filler + "2019-01-01,B,2,ABC,1,true\n", query: "?onConflictUpdateDB=true");
        Assert.Equal("Error", changedTwice.GetProperty("status").GetString());
        Assert.StartsWith("2 rows are duplicated.", changedTwice.GetProperty("statusDescription").GetString());
        Assert.Contains("Country=B", changedTwice.GetProperty("statusDescription").GetString());
        var newTwice = await api.UploadAndWaitAsync(datasetId, Header + After + Filler + "2019-01-01,Z,1,z,1,true\n2019-01-01,Z,2,z,1,true\n",
            query: "?onConflictUpdateDB=true");
        Assert.Equal("Error", newTwice.GetProperty("status").GetString());
        Assert.Contains("Country=Z", newTwice.GetProperty("statusDescription").GetString());
        Assert.Equal(before, await api.DownloadAsync(datasetId));
        Assert.Equal(0L, await ScalarAsync($"SELECT count(*) FROM dp_data.ds_{datasetId} WHERE _vf > 0 OR _vt IS NOT NULL"));
    }

    [Fact]
    public async Task Without_onConflictUpdate_changed_rows_keep_their_values_and_new_keys_are_added()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(datasetId, Header + Before + Filler, Manifest)).GetProperty("status").GetString());
        var before = Rows(await api.DownloadAsync(datasetId));

        var process = await api.UploadAndWaitAsync(datasetId, Header + After + Filler + "2019-01-01,Z,1,z,1,true\n");

        Assert.Equal("4 values added to database.", process.GetProperty("statusDescription").GetString());
        Assert.Equal([.. before.Append("Z,2019-01-01,1,z,1,true").Order(StringComparer.Ordinal)], Rows(await api.DownloadAsync(datasetId)));
        Assert.Equal(0L, await ScalarAsync($"SELECT count(*) FROM dp_data.ds_{datasetId} WHERE _vt IS NOT NULL"));
    }

    [Fact]
    public async Task A_key_twice_in_an_upload_fails_even_when_one_of_them_is_unchanged()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(datasetId, Header + Before + Filler, Manifest)).GetProperty("status").GetString());
        var before = await api.DownloadAsync(datasetId);
        var process = await api.UploadAndWaitAsync(datasetId, Header + Before + Filler + "2019-01-01,A,9,a,1,true\n", query: "?onConflictUpdateDB=true");
        Assert.Equal("Error", process.GetProperty("status").GetString());
        var reason = process.GetProperty("statusDescription").GetString()!;
        Assert.StartsWith("2 rows are duplicated.", reason);
        Assert.Contains("Country=A", reason);
        Assert.Equal(before, await api.DownloadAsync(datasetId));
    }

    [Fact]
    public async Task A_key_twice_in_an_upload_fails_when_both_copies_are_unchanged_and_the_rest_is_not_staged()
    {
        // Without deleteMissing the rows identical to live ones are not staged at all; a repeated key makes the import stage the
        // file again with their keys, so the duplicate check still sees both copies.
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(datasetId, Header + Before + Filler, Manifest)).GetProperty("status").GetString());
        var before = await api.DownloadAsync(datasetId);
        var process = await api.UploadAndWaitAsync(datasetId, Header + After + Filler + "2020-01-05,USA,5.5,u,5,false\n", query: "?onConflictUpdateDB=true");
        Assert.Equal("Error", process.GetProperty("status").GetString());
        var reason = process.GetProperty("statusDescription").GetString()!;
        Assert.StartsWith("2 rows are duplicated.", reason);
        Assert.Contains("Country=USA", reason);
        Assert.Equal(before, await api.DownloadAsync(datasetId));

        // The same upload without the repeat merges: only the six changed rows are new rows of the new version.
        var merged = await api.UploadAndWaitAsync(datasetId, Header + After + Filler, query: "?onConflictUpdateDB=true");
        Assert.Equal("0 values added to database. 24 values updated.", merged.GetProperty("statusDescription").GetString());
        Assert.Equal(6L, await ScalarAsync($"SELECT count(*) FROM dp_data.ds_{datasetId} WHERE _vf > 0"));
        Assert.Equal(50L, await ScalarAsync($"SELECT count(*) FROM dp_data.ds_{datasetId} WHERE _vt IS NULL"));
    }

    [Fact]
    public async Task A_big_merge_written_in_many_segments_closes_every_changed_row_and_fails_whole_on_a_bad_row()
    {
        // The tests' paired merges write 1 KiB segments (PlatformFixture): 300 changed and 50 new rows are about twenty, each
        // closing its rows' live versions before its COPY (SegmentedCopy).
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        string Rows300(Func<int, string> amount) => string.Concat(Enumerable.Range(0, 300).Select(i => $"2019-01-{1 + i % 28:00},K{i:000},{amount(i)},l{i},{i},true\n"));
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(datasetId, Header + Rows300(i => $"{i}.5"), Manifest)).GetProperty("status").GetString());
        var before = await api.DownloadAsync(datasetId);

        // A bad value in row 280: segments were written and live rows closed by then; the import fails whole, naming the row.
        var bad = await api.UploadAndWaitAsync(datasetId, Header + Rows300(i => i == 279 ? "oops" : $"{i}.75"), query: "?onConflictUpdateDB=true");
        Assert.Equal("Error", bad.GetProperty("status").GetString());
        Assert.Contains("Row 280", bad.GetProperty("statusDescription").GetString());
        Assert.Equal(before, await api.DownloadAsync(datasetId));
        Assert.Equal(0L, await ScalarAsync($"SELECT count(*) FROM dp_data.ds_{datasetId} WHERE _vf > 0 OR _vt IS NOT NULL"));

        var newKeys = string.Concat(Enumerable.Range(0, 50).Select(i => $"2019-02-01,N{i:00},{i},n,{i},false\n"));
        var merged = await api.UploadAndWaitAsync(datasetId, Header + Rows300(i => $"{i}.75") + newKeys, query: "?onConflictUpdateDB=true");
        Assert.Equal("Processed", merged.GetProperty("status").GetString());
        Assert.Equal(300L, await ScalarAsync($"SELECT count(*) FROM dp_data.ds_{datasetId} WHERE _vf = 0 AND _vt = 1"));
        Assert.Equal(350L, await ScalarAsync($"SELECT count(*) FROM dp_data.ds_{datasetId} WHERE _vf = 1 AND _vt IS NULL"));
        var current = Rows(await api.DownloadAsync(datasetId));
        Assert.Equal(350, current.Count);
        Assert.Contains("K007,2019-01-08,7.75,l7,7,true", current);
        Assert.Contains("N49,2019-02-01,49,n,49,false", current);
        Assert.DoesNotContain(current, row => row.Contains(".5,", StringComparison.Ordinal));
    }

    private static List<string> Rows(string csv) => [.. csv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Order(StringComparer.Ordinal)];

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private async Task<long> ScalarAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private async Task<List<string>> CountriesAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var values = new List<string>();
        while (await reader.ReadAsync()) values.Add(reader.GetString(0));
        return values;
    }
}
