using DatasetPlatform.Grains.Storage;
using DatasetPlatform.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace DatasetPlatform.Tests;

/// <summary>
/// A dataset's table is analyzed by autovacuum only once as many rows changed as make an import analyze it itself (50000, and a
/// tenth of the table), not after every small upload: a new table has the setting, and one created before it gets it from the
/// schema scripts at the next start. Its _vt column defaults to NULL through random(), so that a small load's COPY, which leaves
/// the column out, inserts row by row, and a bigger one, which lists it, buffers (DataTables.RowAtATimeDefault); both read back
/// the same rows.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class DatasetTableSettingsTests(PlatformFixture platform)
{
    private const string Setting = "autovacuum_analyze_threshold=50000";
    private const string Manifest = """
        [{"sourceName":"Date","dataType":"Date","isEntity":true,"dateFormat":"%Y-%m-%d"},{"sourceName":"Country","dataType":"String","isEntity":true},
         {"sourceName":"Amount","dataType":"Decimal"}]
        """;

    [Fact]
    public async Task A_new_dataset_table_and_an_older_one_wait_for_50000_changed_rows_before_autovacuum_analyzes_them_and_default_vt_to_a_volatile_null()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        var process = await api.UploadAndWaitAsync(datasetId, "Date,Country,Amount\n2021-01-01,USA,1\n2021-01-02,USA,2\n", Manifest);
        Assert.Equal("Processed", process.GetProperty("status").GetString());
        Assert.Contains(Setting, await OptionsOfAsync($"ds_{datasetId}"));
        // NULL through random(): volatile, which is what makes a COPY that leaves the column out insert row by row.
        var vtDefault = await VtDefaultOfAsync($"ds_{datasetId}");
        Assert.Contains("random()", vtDefault);

        // A table as an earlier version created it, without either: the schema scripts, which every start applies, give both.
        var older = $"ds_settings_{Guid.NewGuid():N}";
        await ExecuteAsync($"CREATE TABLE dp_data.{older} (_vf integer NOT NULL, _vt integer NULL)");
        try
        {
            Assert.DoesNotContain(Setting, await OptionsOfAsync(older));
            Assert.Null(await VtDefaultOfAsync(older));
            await SchemaBootstrapper.ApplyAsync(platform.Services.GetRequiredService<NpgsqlDataSource>());
            Assert.Contains(Setting, await OptionsOfAsync(older));
            Assert.Equal(vtDefault, await VtDefaultOfAsync(older));
        }
        finally
        {
            await ExecuteAsync($"DROP TABLE dp_data.{older}");
        }
    }

    [Fact]
    public async Task Loads_at_the_row_by_row_count_and_past_it_read_back_exactly_and_merge_alike()
    {
        // PlatformFixture.CopyRowAtATimeMaxRows rows go in row by row; one more and the load counts them, then buffers them.
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        string Rows(int count, int first, decimal amount) => string.Concat(Enumerable.Range(first, count).Select(i => $"2021-01-{i:00},USA,{amount + i}\n"));
        var atCount = Rows(PlatformFixture.CopyRowAtATimeMaxRows, 1, 0.5m);
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(datasetId, "Date,Country,Amount\n" + atCount, Manifest)).GetProperty("status").GetString());
        // Past the count, overlapping the first upload's last four days with new amounts, and merged into it.
        var pastCount = Rows(PlatformFixture.CopyRowAtATimeMaxRows + 1, PlatformFixture.CopyRowAtATimeMaxRows - 3, 100.25m);
        var merged = await api.UploadAndWaitAsync(datasetId, "Date,Country,Amount\n" + pastCount, Manifest, "?onConflictUpdateDB=True");
        Assert.Equal("Processed", merged.GetProperty("status").GetString());

        var expected = Rows(PlatformFixture.CopyRowAtATimeMaxRows - 4, 1, 0.5m) + pastCount;
        var downloaded = await api.DownloadAsync(datasetId, "?$format=csv");
        Assert.Equal(Sorted(expected.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(',')).Select(f => $"{f[1]},{f[0]},{f[2]}")),
            Sorted(downloaded.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)));

        static string[] Sorted(IEnumerable<string> lines) => [.. lines.Order(StringComparer.Ordinal)];
    }

    private async Task<string?> VtDefaultOfAsync(string table)
    {
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            """
            SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE n.nspname = 'dp_data' AND c.relname = $1 AND a.attname = '_vt'
            """, connection) { Parameters = { new() { Value = table } } };
        return await command.ExecuteScalarAsync() as string;
    }

    private async Task<string[]> OptionsOfAsync(string table)
    {
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT COALESCE(c.reloptions, '{}') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'dp_data' AND c.relname = $1",
            connection) { Parameters = { new() { Value = table } } };
        return (string[])(await command.ExecuteScalarAsync())!;
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
