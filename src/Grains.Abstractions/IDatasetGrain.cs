using Orleans.Concurrency;

namespace DatasetPlatform.Grains.Abstractions;

/// <summary>
/// One dataset (key: dataset id), and the only writer of its state. Serializes the dataset's imports: the catalog holds
/// the durable queue (jobs not yet finished, oldest first) and this grain runs them one at a time, in that order.
/// Changes to the dataset (manifest, schema, lock, completion) join the same order: each applies once every upload
/// committed before it has finished, and before any upload committed after it starts. Imports of different datasets run
/// in parallel on whatever silos their job grains live on.
/// </summary>
public interface IDatasetGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Signals that a job row has been committed to the catalog for this dataset. Idempotent: the
    /// grain re-reads the queue from the catalog (at once, or when the job running now finishes), so a lost or repeated
    /// signal changes nothing.
    /// Returns once the queue is being worked on; it never waits for the import itself.
    /// </summary>
    Task NotifyEnqueued(long jobId);

    /// <summary>Called by a job when it reaches a terminal state; wakes its waiters and starts the next queued job.</summary>
    Task NotifyFinished(long jobId);

    /// <summary>The job currently processing, or null when the queue is idle.</summary>
    Task<long?> GetRunningJob();

    /// <summary>
    /// Waits at most <paramref name="maxWait"/> (capped at 15 s) for the job to finish; the catalog is checked first, so
    /// a job that already finished answers at once. Interleaves with everything else and changes nothing: callers
    /// that wait longer call it again (after a silo died too: the durable queue restarts the job).
    /// </summary>
    [AlwaysInterleave]
    Task<JobWaitOutcome> WaitForJob(long jobId, TimeSpan maxWait);

    /// <summary>
    /// Creates the dataset under this grain's id, which the caller took from the catalog's id sequence
    /// (<c>NextDatasetId</c>): a new dataset has no queue, so this applies at once. NameTaken when its repository
    /// already has a dataset of that name; nothing is created then.
    /// </summary>
    Task<DatasetChangeResult> Create(DatasetDefinition definition);

    /// <summary>
    /// Replaces the manifest (schema) and/or sets its lock or strictness, in queue order (see the interface summary).
    /// Rules checked when it applies: a block dataset holding records keeps its columns (ColumnsFixed); a locked manifest
    /// is replaced only by a change that also unlocks it (ManifestLocked). Pending with a ticket while uploads committed
    /// before it are unfinished: wait for it with <see cref="WaitForChange"/>. Setting the same values again is harmless.
    /// </summary>
    Task<DatasetChangeResult> ChangeManifest(ManifestChange change);

    /// <summary>Completes (or keeps open) an input dataset, in queue order; a completed dataset cannot be reopened (CannotReopen).</summary>
    Task<DatasetChangeResult> SetCompleted(bool completed);

    /// <summary>
    /// The outcome of a change that was Pending: waits at most <paramref name="maxWait"/> (capped at 15 s) and answers
    /// Pending again if it still waits. Lost when this activation does not know the ticket (its silo died before it
    /// applied): the change was not applied and can be sent again.
    /// </summary>
    [AlwaysInterleave]
    Task<DatasetChangeResult> WaitForChange(long ticket, TimeSpan maxWait);

    /// <summary>
    /// Deletes the dataset at once, not in queue order: its row table, catalog row, jobs, staged files and versions. A
    /// running import is ended (its database session is terminated when it holds the dataset for more than a moment) and
    /// queued ones never start; waiters and pending changes are told it is gone. False when it did not exist.
    /// </summary>
    Task<bool> Delete();

    /// <summary>
    /// Keeps a computed report (quality or analysis) with one of this dataset's versions. Versions never change, so the
    /// report is a cache and this is not queued; a version that is gone (or of another dataset) is left alone.
    /// </summary>
    Task SaveVersionReport(VersionReport report);
}
