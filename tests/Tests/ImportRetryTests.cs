using System.Net;
using DatasetPlatform.Grains.Storage;
using DatasetPlatform.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace DatasetPlatform.Tests;

/// <summary>
/// An import that meets an error it cannot get past (a bug, a database that does not match the code) fails at once and
/// says why; an outage (its database connection killed) is retried and the upload still loads, once.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class ImportRetryTests(PlatformFixture platform)
{
    private const string Baseline = "Date,Country,Value\n2020-01-01,USA,1\n2020-01-01,ARG,2\n";

    private IEnumerable<LogEntry> LogsOfImport(long processId) =>
        platform.Logs.Entries.Where(e => e.Message.StartsWith($"Import {processId} ", StringComparison.Ordinal));

    private async Task RenameColumnAsync(long datasetId, string from, string to)
    {
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        await using var rename = new NpgsqlCommand($"ALTER TABLE {DataTables.QualifiedName(datasetId)} RENAME COLUMN {from} TO {to}", connection);
        await rename.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task A_database_error_that_is_not_transient_fails_the_import_at_once_with_its_cause()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(datasetId, Baseline, ApiClient.DateCountryManifest)).GetProperty("status").GetString());
        // The table no longer matches what the catalog says (as after a botched manual change): every attempt would fail alike.
        await RenameColumnAsync(datasetId, "c2", "c2_moved");

        var process = await api.UploadAndWaitAsync(datasetId, "Date,Country,Value\n2021-01-01,USA,3\n", ApiClient.DateCountryManifest);
        var processId = process.GetProperty("id").GetInt64();
        Assert.Equal("Error", process.GetProperty("status").GetString());
        Assert.Equal($"Internal error while importing: 42703 column \"c2\" of relation \"{DataTables.LocalName(datasetId)}\" does not exist",
            process.GetProperty("statusDescription").GetString());

        // Tried once, logged once as an error with the exception; no retry.
        var logged = LogsOfImport(processId).ToList();
        var error = Assert.Single(logged);
        Assert.Equal(LogLevel.Error, error.Level);
        Assert.Equal("42703", Assert.IsType<PostgresException>(error.Exception).SqlState);
        // Once the table is repaired, nothing of the failed upload is there.
        await RenameColumnAsync(datasetId, "c2_moved", "c2");
        Assert.Equal("Country,Date,Value\nUSA,2020-01-01,1\nARG,2020-01-01,2\n", await api.DownloadAsync(datasetId));
    }

    [Fact]
    public async Task An_import_whose_connection_is_killed_is_retried_and_loads_once()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        await using var holder = new NpgsqlConnection(platform.ConnectionString);
        await holder.OpenAsync();
        await using var observer = new NpgsqlConnection(platform.ConnectionString);
        await observer.OpenAsync();

        // Hold the dataset's row so the import waits on it, in a place we can find: blocked by this connection.
        await using var hold = await holder.BeginTransactionAsync();
        await using (var lockRow = new NpgsqlCommand("SELECT 1 FROM dp.datasets WHERE id = @id FOR NO KEY UPDATE", holder, hold))
        {
            lockRow.Parameters.AddWithValue("id", datasetId);
            await lockRow.ExecuteScalarAsync();
        }
        var holderPid = holder.ProcessID;

        var created = await ApiClient.ExpectJsonAsync(await api.UploadAsync(datasetId, Baseline, ApiClient.DateCountryManifest), HttpStatusCode.Created);
        var processId = created.GetProperty("id").GetInt64();

        async Task<int> BlockedImportAsync(int other)
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                await using var find = new NpgsqlCommand("SELECT pid FROM pg_stat_activity WHERE @holder = ANY(pg_blocking_pids(pid)) AND pid <> @other", observer);
                find.Parameters.AddWithValue("holder", holderPid);
                find.Parameters.AddWithValue("other", other);
                if (await find.ExecuteScalarAsync() is int pid) return pid;
                Assert.True(DateTime.UtcNow < deadline, "No import was seen waiting for the dataset row.");
                await Task.Delay(50);
            }
        }

        var first = await BlockedImportAsync(other: 0);
        await using (var terminate = new NpgsqlCommand("SELECT pg_terminate_backend(@pid)", observer))
        {
            terminate.Parameters.AddWithValue("pid", first);
            Assert.True((bool)(await terminate.ExecuteScalarAsync())!);
        }
        // The import comes back on a new connection (after its backoff) and waits again.
        var second = await BlockedImportAsync(other: first);
        Assert.NotEqual(first, second);
        Assert.Equal("Processing", (await api.GetJsonAsync($"/datasets/{datasetId}/processes/{processId}")).GetProperty("status").GetString());
        await hold.CommitAsync();

        var done = await api.WaitForProcessAsync(datasetId, processId);
        Assert.Equal("Processed", done.GetProperty("status").GetString());
        Assert.Equal("Country,Date,Value\nUSA,2020-01-01,1\nARG,2020-01-01,2\n", await api.DownloadAsync(datasetId));
        var logged = LogsOfImport(processId).ToList();
        var retry = Assert.Single(logged);
        Assert.Equal(LogLevel.Warning, retry.Level);
        Assert.Contains("transient", retry.Message);
        Assert.Equal("57P01", Assert.IsType<PostgresException>(retry.Exception).SqlState);
    }

    [Fact]
    public async Task A_failure_whose_reason_quotes_a_nul_byte_is_recorded_and_the_queue_moves_on()
    {
        // The reason quotes the bad value, NUL included; PostgreSQL text and jsonb refuse NUL, so recording the failure
        // failed too and the job stayed processing at the head of its dataset's queue, restarted forever.
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        var process = await api.UploadAndWaitAsync(datasetId, "Date,Country,Value\n2021-01-01,USA,1\u00002\n", ApiClient.DateCountryManifest);
        Assert.Equal("Error", process.GetProperty("status").GetString());
        var reason = process.GetProperty("statusDescription").GetString()!;
        Assert.Contains("Row 1", reason);
        Assert.Contains("not a valid", reason);
        Assert.DoesNotContain('\0', reason);

        // The next upload is not stuck behind it.
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(datasetId, Baseline, ApiClient.DateCountryManifest)).GetProperty("status").GetString());
    }
}
