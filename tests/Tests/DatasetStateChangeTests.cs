using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using DatasetPlatform.Grains.Storage;
using DatasetPlatform.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Npgsql;
using Xunit.Abstractions;

namespace DatasetPlatform.Tests;

/// <summary>
/// Every change to a dataset goes through its grain, in order with its uploads: a change sent while uploads are queued
/// applies after them, a delete ends a running import at once and leaves nothing behind, and the synchronous surfaces
/// (block PATCH, seed-004 versions) answer with their import's outcome however long it was held up.
/// An import is held up for real: the test locks the dataset's table, so the import waits inside its transaction (holding
/// its dataset, as a long import does) until the test lets go.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class DatasetStateChangeTests(PlatformFixture platform, ITestOutputHelper output)
{
    private const string ManifestWithValue =
        """[{"sourceName":"Date","dataType":"Date","isEntity":true,"dateFormat":"%Y-%m-%d"},{"sourceName":"Country","dataType":"String","isEntity":true},{"sourceName":"Value","dataType":"Decimal"}]""";

    [Fact]
    public async Task Delete_while_an_import_runs_ends_it_and_leaves_nothing_behind()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        var (held, running) = await HoldAnImportAsync(api, datasetId);
        var queued = await UploadAsync(api, datasetId, "Date,Country,Value\n2022-01-01,USA,3\n");

        var clock = Stopwatch.StartNew();
        var deleted = await api.Http.DeleteAsync($"/datasets/{datasetId}");
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        // The delete ends whoever holds the dataset (the import, and here the test's own lock) instead of waiting for them.
        output.WriteLine($"DELETE while an import ran answered in {clock.Elapsed.TotalSeconds:F2} s");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"The delete took {clock.Elapsed}.");
        await held.DisposeAsync();

        await ApiClient.ExpectProblemAsync(await api.Http.GetAsync($"/datasets/{datasetId}"), HttpStatusCode.NotFound);
        await ApiClient.ExpectProblemAsync(await api.Http.GetAsync($"/datasets/{datasetId}/processes/{running}"), HttpStatusCode.NotFound);

        // The import that was ended is logged, tried once more, finds its job gone and stops: no table comes back, no retry loop.
        await WaitForAsync(() => TransientWarnings(running) >= 1, "the ended import's warning");
        var other = await api.NewDatasetAsync();
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(other, "Date,Country,Value\n2020-01-01,ARG,5\n", ApiClient.DateCountryManifest))
            .GetProperty("status").GetString());
        Assert.Equal("Country,Date,Value\nARG,2020-01-01,5\n", await api.DownloadAsync(other));
        await WaitForAsync(async () => await CatalogLeftoversAsync(datasetId) == "0 jobs, 0 files, 0 versions, table gone", "an empty catalog");
        Assert.Equal(1, TransientWarnings(running));
        Assert.Equal(0, TransientWarnings(queued));
        Assert.DoesNotContain(platform.Logs.Entries, e => e.Level >= LogLevel.Error && e.Message.Contains($"Import {running} ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Uploads_queued_behind_a_running_import_start_as_each_one_before_them_finishes()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        var (held, running) = await HoldAnImportAsync(api, datasetId);
        var jobs = new List<long> { running };
        for (var year = 2022; year < 2030; year++) jobs.Add(await UploadAsync(api, datasetId, $"Date,Country,Value\n{year}-01-01,USA,{year}\n"));
        await held.DisposeAsync();
        foreach (var job in jobs) Assert.Equal("Processed", (await api.WaitForProcessAsync(datasetId, job)).GetProperty("status").GetString());

        // Each queued upload starts when the one before it finishes. They had waited for the next wake-up of the dataset instead
        // (its watchdog, 5 s; the silos' sweep, every second in tests): the queue was taken as empty once the first had run.
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT extract(epoch FROM started_at - lag(processed_at) OVER (ORDER BY id))::float8 FROM dp.import_jobs WHERE id = ANY($1) ORDER BY id", connection)
            { Parameters = { new() { Value = jobs.ToArray() } } };
        var waits = new List<double>();
        await using (var reader = await command.ExecuteReaderAsync())
            while (await reader.ReadAsync()) if (!reader.IsDBNull(0)) waits.Add(reader.GetDouble(0));
        output.WriteLine($"from each import's end to the next one's start, ms: {string.Join(", ", waits.Select(w => (w * 1000).ToString("F0")))}");
        Assert.Equal(8, waits.Count);
        Assert.True(waits.Sum() < 1.5, $"The queued uploads waited {waits.Sum():F2} s in all between one import's end and the next one's start.");
        Assert.Equal(11, (await api.DownloadAsync(datasetId)).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task Deleting_a_repository_ends_a_running_import_of_its_dataset_and_leaves_nothing_behind()
    {
        var api = platform.Client();
        var repositoryId = await api.CreateRepositoryAsync();
        var datasetId = await api.CreateDatasetAsync(repositoryId);
        var untouched = await api.NewDatasetAsync(); // in another repository
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(untouched, "Date,Country,Value\n2020-01-01,USA,1\n", ApiClient.DateCountryManifest))
            .GetProperty("status").GetString());
        var (held, _) = await HoldAnImportAsync(api, datasetId);

        var clock = Stopwatch.StartNew();
        var deleted = await api.Http.DeleteAsync($"/repositories/{repositoryId}");
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        // Through the dataset's grain: whoever holds the dataset (the import, the test's lock) is ended, not waited for.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"The delete took {clock.Elapsed}.");
        await held.DisposeAsync();

        await ApiClient.ExpectProblemAsync(await api.Http.GetAsync($"/repositories/{repositoryId}"), HttpStatusCode.NotFound);
        await ApiClient.ExpectProblemAsync(await api.Http.GetAsync($"/datasets/{datasetId}"), HttpStatusCode.NotFound);
        await WaitForAsync(async () => await CatalogLeftoversAsync(datasetId) == "0 jobs, 0 files, 0 versions, table gone", "an empty catalog");
        Assert.Equal("Country,Date,Value\nUSA,2020-01-01,1\n", await api.DownloadAsync(untouched));
    }

    [Fact]
    public async Task A_manifest_change_sent_while_uploads_are_queued_applies_after_them()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        await api.UploadAndWaitAsync(datasetId, "Date,Country,Value\n2020-01-01,USA,1\n", ApiClient.DateCountryManifest);

        Task<HttpResponseMessage> lockManifest;
        long withOwnManifest;
        await using (var held = await TableLock.TakeAsync(platform.ConnectionString, datasetId))
        {
            await UploadAsync(api, datasetId, "Date,Country,Value\n2021-01-01,USA,2\n");
            await held.WaitUntilAnImportWaitsAsync();
            // Queued behind the running one, with a manifest of its own: a lock applied before it would fail it.
            withOwnManifest = await UploadAsync(api, datasetId, "Date,Country,Value\n2022-01-01,USA,3\n", ManifestWithValue);
            var positions = await QueuePositionAsync();
            lockManifest = api.Http.PutAsJsonAsync($"/datasets/{datasetId}/manifest", new { locked = true });
            // The change has reached its dataset once it took a queue position after the uploads'.
            await WaitForAsync(async () => await QueuePositionAsync() > positions, "queue position taken by the change");
            Assert.False(lockManifest.IsCompleted, "The manifest change answered while uploads sent before it were unfinished.");
        }

        var locked = await ApiClient.ExpectJsonAsync(await lockManifest, HttpStatusCode.OK);
        Assert.True(locked.GetProperty("locked").GetBoolean());
        Assert.Equal(3, locked.GetProperty("manifest").GetArrayLength()); // the queued upload's manifest, kept by its import
        var process = await api.WaitForProcessAsync(datasetId, withOwnManifest);
        Assert.True(process.GetProperty("status").GetString() == "Processed", process.ToString());
        Assert.Equal("Country,Date,Value\nUSA,2020-01-01,1\nUSA,2021-01-01,2\nUSA,2022-01-01,3\n", await api.DownloadAsync(datasetId));

        // Now it is locked: a different manifest is refused, at once, as before.
        var refused = await api.Http.PutAsync($"/datasets/{datasetId}/manifest",
            new StringContent(ApiClient.DateCountryManifest, Encoding.UTF8, "application/json"));
        Assert.Contains("locked", await ApiClient.ExpectProblemAsync(refused, HttpStatusCode.Conflict), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_block_patch_answers_with_its_outcome_after_waiting_longer_than_one_wait_call()
    {
        var api = platform.Client();
        var name = "people-" + Guid.NewGuid().ToString("N")[..8];
        var created = await api.Http.PostAsJsonAsync("/Dataset", new { name, columns = new Dictionary<string, string> { ["Name"] = "string", ["Age"] = "integer" }, input = true });
        var datasetId = (await ApiClient.ExpectJsonAsync(created, HttpStatusCode.Created)).GetProperty("id").GetInt64();
        await ApiClient.ExpectJsonAsync(await PatchBlockAsync(api, name, 0, "Ann", 31), HttpStatusCode.OK);

        Task<HttpResponseMessage> patch;
        Stopwatch sinceRelease;
        await using (var held = await TableLock.TakeAsync(platform.ConnectionString, datasetId))
        {
            patch = PatchBlockAsync(api, name, 1, "Bob", 42);
            await held.WaitUntilAnImportWaitsAsync();
            // Longer than one wait call (GrainCalls.WaitSlice): the gateway calls again, the request stays open.
            await Task.Delay(Api.Apis.GrainCalls.WaitSlice + TimeSpan.FromSeconds(2));
            Assert.False(patch.IsCompleted, "The PATCH answered while its block was still held up.");
            sinceRelease = Stopwatch.StartNew();
        }

        var stored = await ApiClient.ExpectJsonAsync(await patch, HttpStatusCode.OK);
        output.WriteLine($"PATCH answered {sinceRelease.Elapsed.TotalSeconds:F2} s after its import could finish");
        // The finished import wakes the waiting call; it does not wait for its slice to run out.
        Assert.True(sinceRelease.Elapsed < TimeSpan.FromSeconds(8), $"The PATCH answered {sinceRelease.Elapsed} after the import could finish.");
        Assert.Equal(1, stored.GetProperty("blockNumber").GetInt32());
        Assert.Equal(1, stored.GetProperty("recordCount").GetInt32());
        var records = await api.GetJsonAsync($"/Dataset/{name}/data");
        Assert.Equal(["Ann", "Bob"], records.EnumerateArray().Select(r => r.GetProperty("Name").GetString()));

        // Completion is a change like the others; after it no block is accepted.
        var completed = await api.Http.PutAsJsonAsync($"/Dataset/{name}", new { completed = true });
        Assert.True((await ApiClient.ExpectJsonAsync(completed, HttpStatusCode.OK)).GetProperty("completed").GetBoolean());
        await ApiClient.ExpectProblemAsync(await PatchBlockAsync(api, name, 2, "Cid", 7), HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task A_seed_004_version_answers_with_the_new_version_once_its_held_import_finishes()
    {
        var api = platform.Client();
        var repositoryId = await api.CreateRepositoryAsync();
        var bearer = platform.RawClient();
        bearer.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", platform.AdminKey);
        var upload = new MultipartFormDataContent
        {
            { new StringContent(repositoryId.ToString()), "project_id" },
            { new StringContent("sales-" + Guid.NewGuid().ToString("N")[..8]), "name" },
            { new ByteArrayContent("id,amount\n1,10.5\n2,20\n"u8.ToArray()), "file", "sales.csv" },
        };
        var first = await ApiClient.ExpectJsonAsync(await bearer.PostAsync("/api/datasets/upload", upload), HttpStatusCode.Created);
        var uid = first.GetProperty("dataset_id").GetString()!;
        var datasetId = await DatasetIdOfAsync(uid);

        Task<HttpResponseMessage> version;
        await using (var held = await TableLock.TakeAsync(platform.ConnectionString, datasetId))
        {
            version = bearer.PostAsync($"/api/datasets/{uid}/versions", new MultipartFormDataContent
            {
                { new StringContent("February"), "description" },
                { new ByteArrayContent("id,amount\n1,10.5\n2,20\n3,31\n"u8.ToArray()), "file", "sales.csv" },
            });
            await held.WaitUntilAnImportWaitsAsync();
            Assert.False(version.IsCompleted, "The version answered while its import was still held up.");
        }

        var created = await ApiClient.ExpectJsonAsync(await version, HttpStatusCode.Created);
        Assert.Equal(1, created.GetProperty("version").GetInt32());
        Assert.Equal(3, created.GetProperty("row_count").GetInt64());
    }

    /// <summary>
    /// Loads a first row into the dataset, then holds its next import: that import (the job returned) waits for the test's lock
    /// inside its transaction, holding its dataset, until the lock is disposed.
    /// </summary>
    private async Task<(TableLock Held, long Running)> HoldAnImportAsync(ApiClient api, long datasetId)
    {
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(datasetId, "Date,Country,Value\n2020-01-01,USA,1\n", ApiClient.DateCountryManifest))
            .GetProperty("status").GetString());
        var held = await TableLock.TakeAsync(platform.ConnectionString, datasetId);
        var running = await UploadAsync(api, datasetId, "Date,Country,Value\n2021-01-01,USA,2\n");
        await held.WaitUntilAnImportWaitsAsync();
        return (held, running);
    }

    private static async Task<long> UploadAsync(ApiClient api, long datasetId, string csv, string? manifest = null) =>
        (await ApiClient.ExpectJsonAsync(await api.UploadAsync(datasetId, csv, manifest, "?onConflictUpdateDB=true"), HttpStatusCode.Created))
            .GetProperty("id").GetInt64();

    private static Task<HttpResponseMessage> PatchBlockAsync(ApiClient api, string name, int block, string person, int age) =>
        api.Http.PatchAsync($"/Dataset/{name}/data", JsonContent.Create(new { blockNumber = block, records = new[] { new Dictionary<string, object> { ["Name"] = person, ["Age"] = age } } }));

    private int TransientWarnings(long jobId) =>
        platform.Logs.Entries.Count(e => e.Message.StartsWith($"Import {jobId} hit a transient error", StringComparison.Ordinal));

    private async Task<long> QueuePositionAsync()
    {
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT last_value FROM dp.import_queue_seq", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private async Task<long> DatasetIdOfAsync(string uid)
    {
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT id FROM dp.datasets WHERE uid = @uid", connection);
        command.Parameters.AddWithValue("uid", Guid.Parse(uid));
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private async Task<string> CatalogLeftoversAsync(long datasetId)
    {
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            """
            SELECT (SELECT count(*) FROM dp.import_jobs WHERE dataset_id = @id) || ' jobs, '
                || (SELECT count(*) FROM dp.staged_files WHERE dataset_id = @id) || ' files, '
                || (SELECT count(*) FROM dp.dataset_versions WHERE dataset_id = @id) || ' versions, '
                || CASE WHEN to_regclass(@table) IS NULL THEN 'table gone' ELSE 'table still there' END
            """, connection);
        command.Parameters.AddWithValue("id", datasetId);
        command.Parameters.AddWithValue("table", DataTables.QualifiedName(datasetId));
        return (string)(await command.ExecuteScalarAsync())!;
    }

    private static async Task WaitForAsync(Func<bool> condition, string what) => await WaitForAsync(() => Task.FromResult(condition()), what);

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"No {what} before the deadline.");
            await Task.Delay(100);
        }
    }

    /// <summary>
    /// A SHARE lock on a dataset's table, taken as the service's own role: an import that writes to the table waits for it
    /// inside its transaction, holding its dataset. Disposing lets go (the session may already have been ended by a delete).
    /// </summary>
    private sealed class TableLock : IAsyncDisposable
    {
        private readonly string _connectionString;
        private readonly NpgsqlConnection _connection;
        private readonly NpgsqlTransaction _transaction;

        private TableLock(string connectionString, NpgsqlConnection connection, NpgsqlTransaction transaction) =>
            (_connectionString, _connection, _transaction) = (connectionString, connection, transaction);

        public static async Task<TableLock> TakeAsync(string connectionString, long datasetId)
        {
            // Its own pool: a session the service terminates must not come back to another test.
            connectionString = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString;
            var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            var transaction = await connection.BeginTransactionAsync();
            await using var command = new NpgsqlCommand($"LOCK TABLE {DataTables.QualifiedName(datasetId)} IN SHARE MODE", connection, transaction);
            await command.ExecuteNonQueryAsync();
            return new TableLock(connectionString, connection, transaction);
        }

        /// <summary>Polls until a session of the service waits for a lock held by this one.</summary>
        public async Task WaitUntilAnImportWaitsAsync()
        {
            await using var probe = new NpgsqlConnection(_connectionString);
            await probe.OpenAsync();
            await WaitForAsync(async () =>
            {
                await using var command = new NpgsqlCommand(
                    // Not the ANALYZE an earlier import may have started in the background.
                    "SELECT count(*) FROM pg_stat_activity WHERE @pid = ANY (pg_blocking_pids(pid)) AND query NOT ILIKE 'ANALYZE%'", probe);
                command.Parameters.AddWithValue("pid", _connection.ProcessID);
                return (long)(await command.ExecuteScalarAsync())! > 0;
            }, "import waiting for the test's lock");
        }

        public async ValueTask DisposeAsync()
        {
            try { await _transaction.RollbackAsync(); }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException or ObjectDisposedException) { } // ended by a delete
            await _connection.DisposeAsync();
        }
    }
}
