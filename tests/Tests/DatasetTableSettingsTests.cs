using DatasetPlatform.Grains.Storage;
using DatasetPlatform.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace DatasetPlatform.Tests;

/// <summary>
/// A dataset's table is analyzed by autovacuum only once as many rows changed as make an import analyze it itself (50000, and a
/// tenth of the table), not after every small upload: a new table has the setting, and one created before it gets it from the
/// schema scripts at the next start.
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
    public async Task A_new_dataset_table_and_an_older_one_wait_for_50000_changed_rows_before_autovacuum_analyzes_them()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        var process = await api.UploadAndWaitAsync(datasetId, "Date,Country,Amount\n2021-01-01,USA,1\n2021-01-02,USA,2\n", Manifest);
        Assert.Equal("Processed", process.GetProperty("status").GetString());
        Assert.Contains(Setting, await OptionsOfAsync($"ds_{datasetId}"));

        // A table as an earlier version created it, without the setting: the schema scripts, which every start applies, give it.
        var older = $"ds_settings_{Guid.NewGuid():N}";
        await ExecuteAsync($"CREATE TABLE dp_data.{older} (_vf integer NOT NULL, _vt integer NULL)");
        try
        {
            Assert.DoesNotContain(Setting, await OptionsOfAsync(older));
            await SchemaBootstrapper.ApplyAsync(platform.Services.GetRequiredService<NpgsqlDataSource>());
            Assert.Contains(Setting, await OptionsOfAsync(older));
        }
        finally
        {
            await ExecuteAsync($"DROP TABLE dp_data.{older}");
        }
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
