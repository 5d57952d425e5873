using Dapper;
using Microsoft.Extensions.Configuration;
using DatasetPlatform.Grains.Abstractions;
using DatasetPlatform.Grains.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace DatasetPlatform.Grains.Hosting;

/// <summary>
/// Wakes every dataset that has unfinished jobs (and ends presigned imports whose URL expired unused, and deletes the staged
/// files of uploads abandoned mid-way, and staged bytes whose catalog row is gone): once when the
/// silo starts, then every 30 seconds. Reminders cover
/// a dataset whose grain got as far as registering one; this also covers an upload whose commit succeeded but whose
/// notification never reached the dataset grain (a gateway crash, a timeout). Waking a dataset twice is harmless.
/// It also sweeps at once when the cluster declares a silo dead: the imports that silo ran (and the dataset grains it
/// hosted) start again on the survivors then, not up to a sweep period later.
/// </summary>
internal sealed partial class PendingImportsSweeper(NpgsqlDataSource dataSource, JobStore jobs, IStagedFileStore staging, IGrainFactory grains, IHostApplicationLifetime lifetime,
    IClusterMembershipService membership, IConfiguration configuration, ILogger<PendingImportsSweeper> logger) : IStartupTask
{
    /// <summary>One dataset's wake-up call: a grain on a silo that just died must not hold up the sweep of the others.</summary>
    private static readonly TimeSpan WakeTimeout = TimeSpan.FromSeconds(5);

    private readonly SemaphoreSlim _sweeping = new(1, 1);

    private TimeSpan Period => TimeSpan.FromSeconds(configuration.GetValue("Silo:PendingSweepSeconds", 30));

    /// <summary>
    /// How long an unfinished upload's staged file may go untouched before it counts as abandoned (DP_ABANDONED_UPLOAD_MINUTES).
    /// A live upload touches it with every 1 MiB chunk, which at the slowest accepted rate (1 KB/s) takes 17 minutes.
    /// </summary>
    private int AbandonedUploadMinutes => configuration.GetValue("Silo:AbandonedUploadMinutes", 60); // DP_ABANDONED_UPLOAD_MINUTES, via PlatformEnvironment

    public async Task Execute(CancellationToken cancellationToken)
    {
        await SweepAsync(cancellationToken);
        _ = RepeatAsync(lifetime.ApplicationStopping);
        _ = SweepWhenSilosDieAsync(lifetime.ApplicationStopping);
    }

    private async Task SweepWhenSilosDieAsync(CancellationToken stopping)
    {
        try
        {
            var dead = membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Dead).Select(m => m.SiloAddress).ToHashSet();
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(stopping))
            {
                var newlyDead = snapshot.Members.Values.Where(m => m.Status == SiloStatus.Dead && dead.Add(m.SiloAddress)).Select(m => m.SiloAddress).ToList();
                if (newlyDead.Count == 0) continue;
                LogSweepAfterDeath(string.Join(", ", newlyDead));
                try { await SweepAsync(stopping); }
                catch (Exception e) when (e is not OperationCanceledException) { LogSweepFailed(e); }
            }
        }
        catch (OperationCanceledException) { /* shutting down */ }
    }

    private async Task RepeatAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(Period);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping))
            {
                try { await SweepAsync(stopping); }
                catch (Exception e) when (e is not OperationCanceledException) { LogSweepFailed(e); }
            }
        }
        catch (OperationCanceledException) { /* shutting down */ }
    }

    private async Task SweepAsync(CancellationToken cancellationToken)
    {
        await _sweeping.WaitAsync(cancellationToken);
        try { await SweepOnceAsync(cancellationToken); }
        finally { _sweeping.Release(); }
    }

    private async Task SweepOnceAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        // Presigned imports whose URL expired unused never had a job grain (one runs only once a file queues the job), so this
        // status change is not the grains' to make; it is still the job store's, guarded to jobs that never got a file.
        await jobs.ExpireUnsentUploadsAsync(cancellationToken);
        // Uploads that never committed (the gateway crashed or lost its database mid-upload) leave an unfinished staged
        // file; deleting it also gives a presigned URL's single use back (the claim's foreign key is set null).
        await connection.ExecuteAsync(
            "DELETE FROM dp.staged_files WHERE NOT complete AND touched_at < now() - make_interval(mins => @minutes)",
            new { minutes = AbandonedUploadMinutes });
        // Bytes outside PostgreSQL whose rows went that way, or by cascade (failed jobs, deleted datasets).
        await staging.DeleteOrphansAsync(cancellationToken);
        var pending = await connection.QueryAsync<(long DatasetId, long JobId)>(
            "SELECT dataset_id, min(id) FROM dp.import_jobs WHERE status IN ('queued', 'processing') GROUP BY dataset_id");
        foreach (var (datasetId, jobId) in pending)
        {
            try { await grains.GetGrain<IDatasetGrain>(datasetId).NotifyEnqueued(jobId).WaitAsync(WakeTimeout, cancellationToken); }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LogWakeFailed(e, datasetId, jobId); // the next sweep tries again
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Silo {Silos} declared dead: sweeping pending imports now")]
    private partial void LogSweepAfterDeath(string silos);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not wake dataset {DatasetId} (pending import {JobId}); the next sweep tries again")]
    private partial void LogWakeFailed(Exception exception, long datasetId, long jobId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sweeping pending imports failed; trying again at the next tick")]
    private partial void LogSweepFailed(Exception exception);
}
