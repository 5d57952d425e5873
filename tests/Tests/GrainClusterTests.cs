using Dapper;
using DatasetPlatform.Grains;
using DatasetPlatform.Grains.Abstractions;
using DatasetPlatform.Grains.Hosting;
using DatasetPlatform.Grains.Import;
using DatasetPlatform.Grains.Storage;
using DatasetPlatform.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit.Abstractions;

namespace DatasetPlatform.Tests;

/// <summary>
/// The dataset and import-job grains on a three-silo TestingHost cluster against PostgreSQL (<see cref="GrainClusterFixture"/>):
/// per-dataset arrival order with one import at a time, no overtaking by a job that committed late, parallel datasets,
/// crash counting, and a queue finished by the surviving silos after the silo running it is killed.
/// </summary>
[Collection(nameof(GrainClusterCollection))]
public sealed class GrainClusterTests(GrainClusterFixture cluster, ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    /// <summary>A job's place in its dataset's queue and when it ran, from the catalog.</summary>
    private sealed record QueuedJob(long Id, long QueueSeq, string Status, DateTime? StartedAt, DateTime? ProcessedAt, int? VersionProduced);

    private async Task<IReadOnlyList<QueuedJob>> QueueOfAsync(long datasetId)
    {
        await using var connection = await cluster.OpenConnectionAsync();
        return [.. await connection.QueryAsync<QueuedJob>(
            "SELECT id, queue_seq, status, started_at, processed_at, version_produced FROM dp.import_jobs WHERE dataset_id = @datasetId ORDER BY queue_seq, id",
            new { datasetId })];
    }

    /// <summary>Each job ran after the one before it in the queue had finished, and produced the next version.</summary>
    private static void AssertRanOneAtATimeInQueueOrder(IReadOnlyList<QueuedJob> queue)
    {
        Assert.All(queue, job => Assert.Equal(JobStatus.Complete, job.Status));
        Assert.Equal(Enumerable.Range(0, queue.Count), queue.Select(j => j.VersionProduced ?? -1));
        for (var i = 1; i < queue.Count; i++)
            Assert.True(queue[i].StartedAt >= queue[i - 1].ProcessedAt,
                $"Job {queue[i].Id} started at {queue[i].StartedAt:O}, before job {queue[i - 1].Id} ahead of it finished at {queue[i - 1].ProcessedAt:O}.");
    }

    /// <summary>Rows for <paramref name="days"/> dates from 2000-01-01 of one country, all with <paramref name="value"/>.</summary>
    private static IEnumerable<string> Rows(string country, int days, int value) =>
        Enumerable.Range(0, days).Select(d => $"{new DateOnly(2000, 1, 1).AddDays(d):yyyy-MM-dd},{country},{value}");

    /// <summary>A CSV file of <paramref name="rows"/>, generated as it is read.</summary>
    private static GeneratedCsvStream Csv(IEnumerable<string> rows) => new(rows.Prepend("Date,Country,Value"));

    [Fact]
    public async Task A_burst_of_uploads_to_one_dataset_runs_one_at_a_time_in_arrival_order_and_the_last_values_win()
    {
        output.WriteLine($"Cluster of {GrainClusterFixture.SiloCount} silos started in {cluster.StartupTime.TotalSeconds:F1} s (deploy {cluster.DeployTime.TotalSeconds:F1} s)");
        var datasetId = await cluster.NewDatasetAsync();
        const int Senders = 4, UploadsPerSender = 3, Days = 500;
        // Four gateways' worth of uploads at once, each of the same 500 keys (plus a key of its own), each with its own value.
        var uploads = await Task.WhenAll(Enumerable.Range(0, Senders).Select(sender => Task.Run(async () =>
        {
            var ids = new List<long>();
            for (var n = 0; n < UploadsPerSender; n++)
            {
                var value = sender * 100 + n;
                var own = $"{new DateOnly(1990, 1, 1).AddDays(value):yyyy-MM-dd},OWN,{value}";
                ids.Add(await cluster.UploadAsync(datasetId, Csv(Rows("USA", Days, value).Append(own))));
            }
            return ids;
        })));
        var jobIds = uploads.SelectMany(ids => ids).ToList();
        await cluster.WaitForJobsAsync(jobIds, Deadline);

        var queue = await QueueOfAsync(datasetId);
        Assert.Equal(jobIds.Order(), queue.Select(j => j.Id).Order());
        AssertRanOneAtATimeInQueueOrder(queue);
        // Every shared key holds the value of the upload that arrived last; each upload's own key is there once.
        var last = queue[^1].Id;
        var lastValue = uploads.Select((ids, sender) => ids.Select((id, n) => (id, value: sender * 100 + n))).SelectMany(x => x).Single(x => x.id == last).value;
        var rows = (await cluster.DownloadAsync(datasetId)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("Country,Date,Value", rows[0]);
        var shared = rows.Skip(1).Where(r => r.StartsWith("USA,", StringComparison.Ordinal)).ToList();
        Assert.Equal(Days, shared.Count);
        Assert.All(shared, row => Assert.EndsWith($",{lastValue}", row));
        Assert.Equal(Senders * UploadsPerSender, rows.Count(r => r.StartsWith("OWN,", StringComparison.Ordinal)));
    }

    /// <summary>Polls until <paramref name="count"/> sessions wait on a lock that <paramref name="holderPid"/> holds; returns their pids.</summary>
    private async Task<IReadOnlyList<int>> WaitForBlockedImportsAsync(int holderPid, int count, params int[] except)
    {
        await using var observer = await cluster.OpenConnectionAsync();
        var deadline = DateTime.UtcNow + Deadline;
        while (true)
        {
            var blocked = (await observer.QueryAsync<int>("SELECT pid FROM pg_stat_activity WHERE @holderPid = ANY(pg_blocking_pids(pid)) AND NOT (pid = ANY(@except))",
                new { holderPid, except })).ToList();
            if (blocked.Count >= count) return blocked;
            Assert.True(DateTime.UtcNow < deadline, $"{blocked.Count} imports, not {count}, were seen waiting for the held dataset rows.");
            await Task.Delay(50);
        }
    }

    /// <summary>Holds the rows of <paramref name="datasetIds"/> as an import's load takes them, so their imports wait, running, until released.</summary>
    private static async Task<NpgsqlTransaction> HoldDatasetsAsync(NpgsqlConnection connection, params long[] datasetIds)
    {
        var hold = await connection.BeginTransactionAsync();
        await connection.ExecuteAsync("SELECT 1 FROM dp.datasets WHERE id = ANY(@datasetIds) FOR NO KEY UPDATE", new { datasetIds }, hold);
        return hold;
    }

    [Fact]
    public async Task A_job_that_commits_late_with_an_earlier_queue_position_waits_for_the_running_one_while_other_datasets_import_alongside()
    {
        var datasetId = await cluster.NewDatasetAsync();
        var otherDatasetId = await cluster.NewDatasetAsync();
        await using var holder = await cluster.OpenConnectionAsync();
        var hold = await HoldDatasetsAsync(holder, datasetId, otherDatasetId);

        // Upload "late" takes its queue position first (its INSERT), but its transaction commits only after "early" has started.
        long lateQueueSeq;
        await using (var connection = await cluster.OpenConnectionAsync())
            lateQueueSeq = await connection.ExecuteScalarAsync<long>("SELECT nextval('dp.import_queue_seq')");
        var early = await cluster.UploadAsync(datasetId, Csv(Rows("USA", 3, 1)));
        var other = await cluster.UploadAsync(otherDatasetId, Csv(Rows("ARG", 3, 7)));
        // Both datasets' imports run at once, each waiting for its dataset's row.
        await WaitForBlockedImportsAsync(holder.ProcessID, 2);
        Assert.Equal(JobStatus.Processing, (await cluster.Jobs.GetAsync(early))!.Status);
        Assert.Equal(JobStatus.Processing, (await cluster.Jobs.GetAsync(other))!.Status);

        var late = await cluster.CommitUploadAsync(datasetId, Csv(Rows("USA", 3, 2)));
        await using (var connection = await cluster.OpenConnectionAsync())
            await connection.ExecuteAsync("UPDATE dp.import_jobs SET queue_seq = @lateQueueSeq WHERE id = @late", new { lateQueueSeq, late });
        Assert.Equal([late, early], (await QueueOfAsync(datasetId)).Select(j => j.Id));
        // The signal returns once the dataset grain has decided: the head of the queue is now "late", yet it must not start.
        await cluster.Grains.GetGrain<IDatasetGrain>(datasetId).NotifyEnqueued(late);
        Assert.Equal(JobStatus.Queued, (await cluster.Jobs.GetAsync(late))!.Status);
        Assert.Equal(JobStatus.Processing, (await cluster.Jobs.GetAsync(early))!.Status);

        await hold.CommitAsync();
        var finished = await cluster.WaitForJobsAsync([early, late, other], Deadline);
        Assert.All(finished, job => Assert.Equal(JobStatus.Complete, job.Status));
        var (earlyRun, lateRun, otherRun) = (finished[0], finished[1], finished[2]);
        Assert.True(lateRun.StartedAt >= earlyRun.ProcessedAt, $"Job {late} started at {lateRun.StartedAt:O}, before job {early} finished at {earlyRun.ProcessedAt:O}.");
        Assert.Equal((0, 1), (earlyRun.VersionProduced, lateRun.VersionProduced));
        Assert.True(otherRun.StartedAt < earlyRun.ProcessedAt && earlyRun.StartedAt < otherRun.ProcessedAt, "The two datasets' imports did not run at the same time.");
        Assert.Equal("Country,Date,Value\nUSA,2000-01-01,2\nUSA,2000-01-02,2\nUSA,2000-01-03,2\n", await cluster.DownloadAsync(datasetId));
        Assert.Equal("Country,Date,Value\nARG,2000-01-01,7\nARG,2000-01-02,7\nARG,2000-01-03,7\n", await cluster.DownloadAsync(otherDatasetId));
    }

    /// <summary>
    /// A new dataset with one upload left as a silo that died while loading it leaves it: processing, with the crashes counted
    /// before. The fixture's pending-imports sweep (every second) may start the committed job before it is marked so; such a
    /// job was not "died while running" and its dataset is not used: the next attempt takes a new dataset.
    /// </summary>
    private async Task<(long DatasetId, long JobId)> UploadThatDiedWhileRunningAsync(int crashes)
    {
        for (var attempt = 1; ; attempt++)
        {
            var datasetId = await cluster.NewDatasetAsync();
            var jobId = await cluster.CommitUploadAsync(datasetId, Csv(Rows("USA", 2, 1)));
            await using var connection = await cluster.OpenConnectionAsync();
            var marked = await connection.ExecuteAsync(
                "UPDATE dp.import_jobs SET status = 'processing', crashes = @crashes WHERE id = @jobId AND started_at IS NULL", new { jobId, crashes });
            if (marked == 1) return (datasetId, jobId);
            Assert.True(attempt < 5, "The sweep started every upload before the test could mark it as died while running.");
        }
    }

    private async Task<int> CrashesAsync(long jobId) => (await cluster.Jobs.GetAsync(jobId))!.Crashes;

    [Fact]
    public async Task Runs_that_never_came_back_are_counted_and_the_last_one_allowed_fails_the_job_with_its_reason()
    {
        // Each was running when its silo died: the one below the limit once before, the doomed one as often as allowed but once.
        var (datasetId, survivor) = await UploadThatDiedWhileRunningAsync(GrainClusterFixture.MaxCrashes - 2);
        var (givenUpDatasetId, doomed) = await UploadThatDiedWhileRunningAsync(GrainClusterFixture.MaxCrashes - 1);
        await cluster.Grains.GetGrain<IDatasetGrain>(datasetId).NotifyEnqueued(survivor);
        await cluster.Grains.GetGrain<IDatasetGrain>(givenUpDatasetId).NotifyEnqueued(doomed);

        var finished = await cluster.WaitForJobsAsync([survivor, doomed], Deadline);
        Assert.Equal(JobStatus.Complete, finished[0].Status);
        Assert.Equal("Country,Date,Value\nUSA,2000-01-01,1\nUSA,2000-01-02,1\n", await cluster.DownloadAsync(datasetId));
        Assert.Equal(GrainClusterFixture.MaxCrashes - 1, await CrashesAsync(survivor));

        Assert.Equal(JobStatus.Failed, finished[1].Status);
        Assert.StartsWith($"The import was given up: the server running it stopped {GrainClusterFixture.MaxCrashes} times before it finished", finished[1].Reason);
        Assert.Equal(GrainClusterFixture.MaxCrashes, await CrashesAsync(doomed));
        Assert.Null((await cluster.Datasets.GetAsync(givenUpDatasetId))!.CurrentVersion);
        // The given-up job no longer holds its dataset's queue.
        var next = await cluster.UploadAsync(givenUpDatasetId, Csv(Rows("USA", 2, 3)));
        Assert.Equal(JobStatus.Complete, (await cluster.WaitForJobsAsync([next], Deadline))[0].Status);
        Assert.Equal("Country,Date,Value\nUSA,2000-01-01,3\nUSA,2000-01-02,3\n", await cluster.DownloadAsync(givenUpDatasetId));
    }

    [Fact]
    public async Task A_transient_database_error_is_retried_without_counting_a_crash()
    {
        var datasetId = await cluster.NewDatasetAsync();
        await using var holder = await cluster.OpenConnectionAsync();
        var hold = await HoldDatasetsAsync(holder, datasetId);
        var job = await cluster.UploadAsync(datasetId, Csv(Rows("USA", 2, 5)));
        var first = Assert.Single(await WaitForBlockedImportsAsync(holder.ProcessID, 1));
        await using (var connection = await cluster.OpenConnectionAsync())
            Assert.True(await connection.ExecuteScalarAsync<bool>("SELECT pg_terminate_backend(@first)", new { first }));
        // The import comes back on a new connection, in the same run, and waits again.
        Assert.Single(await WaitForBlockedImportsAsync(holder.ProcessID, 1, except: first));
        await hold.CommitAsync();

        Assert.Equal(JobStatus.Complete, (await cluster.WaitForJobsAsync([job], Deadline))[0].Status);
        Assert.Equal("Country,Date,Value\nUSA,2000-01-01,5\nUSA,2000-01-02,5\n", await cluster.DownloadAsync(datasetId));
        Assert.Equal(0, await CrashesAsync(job));
    }

    [Fact]
    public async Task Killing_the_silo_that_runs_a_datasets_import_leaves_its_queue_to_the_surviving_silos_each_job_once()
    {
        var datasetId = await cluster.NewDatasetAsync();
        await using var holder = await cluster.OpenConnectionAsync();
        var hold = await HoldDatasetsAsync(holder, datasetId);
        var jobIds = new List<long>();
        for (var value = 1; value <= 4; value++) jobIds.Add(await cluster.UploadAsync(datasetId, Csv(Rows("USA", 100, value).Append($"1990-01-0{value},OWN,{value}"))));
        await WaitForBlockedImportsAsync(holder.ProcessID, 1);
        var running = (await QueueOfAsync(datasetId)).Single(j => j.Status == JobStatus.Processing).Id;
        Assert.Equal(jobIds[0], running);

        var victim = await cluster.FindSiloHostingAsync(cluster.Grains.GetGrain<IImportJobGrain>(running));
        Assert.NotNull(victim);
        var datasetSilo = await cluster.FindSiloHostingAsync(cluster.Grains.GetGrain<IDatasetGrain>(datasetId));
        output.WriteLine($"Job {running} runs on {victim.SiloAddress}; dataset {datasetId}'s grain is on {datasetSilo?.SiloAddress}");
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            await cluster.KillSiloAsync(victim);
            await hold.CommitAsync();
            await cluster.WaitForActiveSilosAsync(GrainClusterFixture.SiloCount - 1, Deadline);
            output.WriteLine($"Silo declared dead {clock.Elapsed.TotalSeconds:F1} s after the kill");
            var finished = await cluster.WaitForJobsAsync(jobIds, Deadline);
            output.WriteLine($"Queue of {jobIds.Count} finished {clock.Elapsed.TotalSeconds:F1} s after the kill");
            Assert.All(finished, job => Assert.Equal(JobStatus.Complete, job.Status));

            var queue = await QueueOfAsync(datasetId);
            Assert.Equal(jobIds, queue.Select(j => j.Id));
            AssertRanOneAtATimeInQueueOrder(queue);
            // Each job loaded once: one version each, the shared keys hold the last upload's value, each upload's own key is there.
            await using (var connection = await cluster.OpenConnectionAsync())
                Assert.Equal(jobIds.Count, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM dp.dataset_versions WHERE dataset_id = @datasetId", new { datasetId }));
            var rows = (await cluster.DownloadAsync(datasetId)).Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).ToList();
            Assert.Equal(100 + jobIds.Count, rows.Count);
            Assert.All(rows.Where(r => r.StartsWith("USA,", StringComparison.Ordinal)), row => Assert.EndsWith(",4", row));
            Assert.Equal(["OWN,1990-01-01,1", "OWN,1990-01-02,2", "OWN,1990-01-03,3", "OWN,1990-01-04,4"], rows.Where(r => r.StartsWith("OWN,", StringComparison.Ordinal)).Order());
        }
        finally
        {
            // The next test gets a whole cluster again.
            await cluster.Cluster.StartAdditionalSiloAsync();
            await cluster.WaitForActiveSilosAsync(GrainClusterFixture.SiloCount, Deadline);
        }
    }
}
