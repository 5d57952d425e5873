namespace DatasetPlatform.Grains.Abstractions;

/// <summary>
/// One dataset (key: dataset id). Serializes the dataset's imports: the catalog holds the durable
/// queue (jobs not yet finished, oldest first) and this grain runs them one at a time, in that order.
/// Imports of different datasets run in parallel on whatever silos their job grains live on.
/// </summary>
public interface IDatasetGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Signals that a job row has been committed to the catalog for this dataset. Idempotent: the
    /// grain re-reads the queue from the catalog, so a lost or repeated signal changes nothing.
    /// Returns once the queue is being worked on; it never waits for the import itself.
    /// </summary>
    Task NotifyEnqueued(long jobId);

    /// <summary>Called by a job when it reaches a terminal state; starts the next queued job.</summary>
    Task NotifyFinished(long jobId);

    /// <summary>The job currently processing, or null when the queue is idle.</summary>
    Task<long?> GetRunningJob();
}
