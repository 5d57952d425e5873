namespace DatasetPlatform.Grains.Abstractions;

/// <summary>
/// One import job (key: job id). Owns the job's lifecycle: queued -> processing -> complete, partial,
/// failed, pending_schema or skipped. The catalog row is the durable record of its outcome, written in
/// the same transaction as the rows it loads, so a restarted job never loads twice.
/// </summary>
public interface IImportJobGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Starts processing in the background and returns at once. Idempotent: a running job keeps running;
    /// a finished job only reports its outcome to its dataset again. Only the dataset grain calls this,
    /// which is what keeps one import per dataset at a time.
    /// </summary>
    Task Start();

    /// <summary>Live progress of a running import (rows and bytes read so far).</summary>
    Task<ImportProgress> GetProgress();
}

/// <summary>Progress of an import while it runs; all zero once it is not running in this activation.</summary>
[GenerateSerializer, Immutable]
public sealed record ImportProgress(
    [property: Id(0)] bool Running,
    [property: Id(1)] long RowsRead,
    [property: Id(2)] long BytesRead);
