using DatasetPlatform.Grains.Abstractions;

namespace DatasetPlatform.Api.Apis;

/// <summary>
/// Tells a dataset grain that a job was committed. The job is already durable, so a failed signal is not the caller's
/// problem: the silo's periodic sweep of pending jobs starts it anyway.
/// </summary>
public static partial class Enqueue
{
    public static async Task NotifyAsync(IGrainFactory grains, long datasetId, long jobId, ILoggerFactory loggers)
    {
        try { await GrainCalls.CallAsync(() => grains.GetGrain<IDatasetGrain>(datasetId).NotifyEnqueued(jobId), GrainCalls.SignalTimeout); }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogSignalLost(loggers.CreateLogger("DatasetPlatform.Api.Enqueue"), e, jobId, datasetId);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Import {JobId} of dataset {DatasetId} is committed but its dataset was not told; the sweep will start it")]
    private static partial void LogSignalLost(ILogger logger, Exception exception, long jobId, long datasetId);
}
