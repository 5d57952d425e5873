using Dapper;
using DatasetPlatform.Grains.Abstractions;
using Npgsql;

namespace DatasetPlatform.Grains.Hosting;

/// <summary>
/// On silo start, wakes every dataset that has unfinished jobs. Reminders already cover a dataset whose grain
/// got as far as registering one; this also covers an upload committed just before the process died, whose
/// notification never reached the dataset grain. Waking a dataset twice is harmless.
/// </summary>
internal sealed class PendingImportsSweeper(NpgsqlDataSource dataSource, IGrainFactory grains) : IStartupTask
{
    public async Task Execute(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var pending = await connection.QueryAsync<(long DatasetId, long JobId)>(
            "SELECT dataset_id, min(id) FROM dp.import_jobs WHERE status IN ('queued', 'processing') GROUP BY dataset_id");
        foreach (var (datasetId, jobId) in pending)
            await grains.GetGrain<IDatasetGrain>(datasetId).NotifyEnqueued(jobId);
    }
}
