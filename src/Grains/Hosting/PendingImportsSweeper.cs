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
/// files of uploads abandoned mid-way): once when the
/// silo starts, then every 30 seconds. Reminders cover
/// a dataset whose grain got as far as registering one; this also covers an upload whose commit succeeded but whose
/// notification never reached the dataset grain (a gateway crash, a timeout). Waking a dataset twice is harmless.
/// </summary>
internal sealed partial class PendingImportsSweeper(NpgsqlDataSource dataSource, JobStore jobs, IGrainFactory grains, IHostApplicationLifetime lifetime,
    IConfiguration configuration, ILogger<PendingImportsSweeper> logger) : IStartupTask
{
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
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        // Presigned imports whose URL expired unused never had a job grain (one runs only once a file queues the job), so this
        // status change is not the grains' to make; it is still the job store's, guarded to jobs that never got a file.
        await jobs.ExpireUnsentUploadsAsync(cancellationToken);
        // Uploads that never committed (the gateway crashed or lost its database mid-upload) leave an unfinished staged
        // file; deleting it also gives a presigned URL's single use back (the claim's foreign key is set null).
        await connection.ExecuteAsync(
            "DELETE FROM dp.staged_files WHERE NOT complete AND touched_at < now() - make_interval(mins => @minutes)",
            new { minutes = AbandonedUploadMinutes });
        var pending = await connection.QueryAsync<(long DatasetId, long JobId)>(
            "SELECT dataset_id, min(id) FROM dp.import_jobs WHERE status IN ('queued', 'processing') GROUP BY dataset_id");
        foreach (var (datasetId, jobId) in pending)
            await grains.GetGrain<IDatasetGrain>(datasetId).NotifyEnqueued(jobId);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sweeping pending imports failed; trying again at the next tick")]
    private partial void LogSweepFailed(Exception exception);
}
