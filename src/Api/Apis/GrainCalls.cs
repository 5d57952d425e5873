using DatasetPlatform.Grains.Abstractions;
using DatasetPlatform.Grains.Storage;

namespace DatasetPlatform.Api.Apis;

/// <summary>
/// Every call the gateway makes to a grain, each with a short timeout of its own: a call to a grain whose silo just died
/// would otherwise wait the client's whole response timeout. A state change that cannot be completed is a
/// <see cref="ClusterUnavailableException"/> (answered 503 with Retry-After); waits for an outcome are repeated calls that
/// each end within seconds, so one that fails is simply made again until the request's own deadline.
/// </summary>
public static partial class GrainCalls
{
    /// <summary>A signal (an upload committed): its loss is harmless, the silos' sweep starts the job anyway.</summary>
    public static readonly TimeSpan SignalTimeout = TimeSpan.FromSeconds(5);
    /// <summary>A read of live state (import progress); the answer is optional.</summary>
    public static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(3);
    /// <summary>A state change (create, manifest, completion, delete): a few catalog statements, or a delete's short wait for an import.</summary>
    public static readonly TimeSpan ChangeTimeout = TimeSpan.FromSeconds(10);
    /// <summary>How long one wait call waits in the grain, and how long the gateway gives it.</summary>
    public static readonly TimeSpan WaitSlice = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan WaitCallTimeout = WaitSlice + TimeSpan.FromSeconds(5);
    /// <summary>
    /// The cluster client's own response timeout in gateway mode (Orleans' default is 30 s): above every timeout here, so
    /// it only bounds the calls that outlive their request.
    /// </summary>
    public static readonly TimeSpan ClientResponseTimeout = TimeSpan.FromSeconds(20);
    /// <summary>How long a change queued behind earlier uploads is waited for before the request gives up on it.</summary>
    public static readonly TimeSpan ChangeWait = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    public static async Task<T> CallAsync<T>(Func<Task<T>> call, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        try { return await call().WaitAsync(timeout, cancellationToken); }
        catch (Exception e) when (IsUnreachable(e)) { throw new ClusterUnavailableException(e); }
    }

    public static Task CallAsync(Func<Task> call, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        CallAsync(async () => { await call(); return true; }, timeout, cancellationToken);

    /// <summary>
    /// Sends a change to its dataset grain and waits (in slices) until it has applied after the uploads committed before it.
    /// Throws <see cref="ClusterUnavailableException"/> when the grain cannot be reached, the change was lost with its silo,
    /// or it is still queued after <see cref="ChangeWait"/> (it then applies later, in order).
    /// </summary>
    public static async Task<DatasetChangeOutcome> ChangeAsync(IGrainFactory grains, long datasetId, Func<IDatasetGrain, Task<DatasetChangeResult>> change,
        CancellationToken cancellationToken)
    {
        var grain = grains.GetGrain<IDatasetGrain>(datasetId);
        var result = await CallAsync(() => change(grain), ChangeTimeout, cancellationToken);
        var deadline = DateTime.UtcNow + ChangeWait;
        while (result.Outcome == DatasetChangeOutcome.Pending)
        {
            if (DateTime.UtcNow > deadline)
                throw new ClusterUnavailableException($"The change waits behind uploads to dataset {datasetId} sent before it and applies once they finish; "
                    + "check the dataset later before sending it again.");
            var ticket = result.Ticket;
            result = await CallAsync(() => grain.WaitForChange(ticket, WaitSlice), WaitCallTimeout, cancellationToken);
        }
        if (result.Outcome == DatasetChangeOutcome.Lost)
            throw new ClusterUnavailableException("The server holding the change stopped before it applied; nothing was changed. Send it again.");
        return result.Outcome;
    }

    /// <summary>
    /// Waits until the job finishes or <paramref name="wait"/> passes, with repeated calls to its dataset grain that each end
    /// within seconds; a call that fails (its silo died, the cluster is busy) is made again, since the durable queue and
    /// the silos' sweep restart the job. Returns the job's catalog row as it is then (null when it is gone).
    /// </summary>
    public static async Task<ImportJobRow?> WaitForJobAsync(IGrainFactory grains, JobStore jobs, long datasetId, long jobId, TimeSpan wait, ILogger logger,
        CancellationToken cancellationToken)
    {
        var grain = grains.GetGrain<IDatasetGrain>(datasetId);
        var deadline = DateTime.UtcNow + wait;
        for (var remaining = wait; remaining > TimeSpan.Zero; remaining = deadline - DateTime.UtcNow)
        {
            try
            {
                var slice = remaining < WaitSlice ? remaining : WaitSlice;
                if (await CallAsync(() => grain.WaitForJob(jobId, slice), WaitCallTimeout, cancellationToken) != JobWaitOutcome.Running) break;
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LogWaitFailed(logger, e, jobId, datasetId);
                await Task.Delay(RetryDelay, cancellationToken);
            }
        }
        return await jobs.GetAsync(jobId);
    }

    /// <summary>
    /// Keeps a report computed in the request (quality, analysis) with its version, through the dataset's grain. The report is
    /// a cache of a read: when the grain cannot be reached the caller still gets it, and the next request computes it again.
    /// </summary>
    public static async Task KeepReportAsync(IGrainFactory grains, long datasetId, VersionReport report, ILoggerFactory loggers)
    {
        try { await CallAsync(() => grains.GetGrain<IDatasetGrain>(datasetId).SaveVersionReport(report), ChangeTimeout); }
        catch (ClusterUnavailableException e) { LogReportNotKept(loggers.CreateLogger(typeof(GrainCalls)), e, report.Kind, report.VersionId); }
    }

    private static bool IsUnreachable(Exception exception) => exception is TimeoutException or OrleansException;

    [LoggerMessage(Level = LogLevel.Warning, Message = "The {Kind} report of version {VersionId} was computed but not kept: its dataset did not answer")]
    private static partial void LogReportNotKept(ILogger logger, Exception exception, VersionReportKind kind, Guid versionId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Waiting for import {JobId} of dataset {DatasetId}: the call to its dataset failed; calling again")]
    private static partial void LogWaitFailed(ILogger logger, Exception exception, long jobId, long datasetId);
}

/// <summary>The cluster could not complete a call in time (a silo died, or it is overloaded): answered 503 with Retry-After.</summary>
public sealed class ClusterUnavailableException : Exception
{
    public ClusterUnavailableException(Exception inner)
        : base("The cluster did not answer in time (a server may have just stopped); the change may not have been made. Try again.", inner) { }

    public ClusterUnavailableException(string message) : base(message) { }
}
