using DatasetPlatform.Grains.Abstractions;
using DatasetPlatform.Grains.Import;
using DatasetPlatform.Grains.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace DatasetPlatform.Grains;

/// <summary>
/// Runs one import in the background so no grain turn is held for its duration: Start returns at once,
/// status reads interleave freely, and the outcome is reported to the dataset grain when it is known.
/// Errors are told apart (<see cref="ImportErrors"/>): a bad file or a bug fails the job at once (the runner records
/// why), an outage is retried here with backoff up to a bound, and a crash is counted in the job's row when the job starts again
/// (<see cref="JobStore.MarkProcessingAsync"/>): the grain keeps no state of its own, so a run costs no Orleans storage calls.
/// A deactivation (the silo stopping: SIGTERM, a rolling deploy) cancels the run, which rolls its transaction back, and hands
/// the job back to its queue uncounted (<see cref="OnDeactivateAsync"/>).
/// </summary>
public sealed partial class ImportJobGrain(
    ImportRunner runner,
    JobStore jobs,
    ImportGate gate,
    IOptions<ImportRetryOptions> retryOptions,
    ILogger<ImportJobGrain> logger) : Grain, IImportJobGrain
{
    private Task? _work;
    private ImportProgressCounter? _progress;
    /// <summary>Set once this activation has marked the job processing: a later mark (a retry) is not a new start, so counts no crash.</summary>
    private bool _marked;
    /// <summary>Cancelled when this activation goes away while the import runs.</summary>
    private readonly CancellationTokenSource _stopping = new();

    private long JobId => this.GetPrimaryKeyLong();

    private enum RunOutcome { Finished, HandedBack, Pending }

    public Task Start()
    {
        if (_work is { IsCompleted: false } || _stopping.IsCancellationRequested) return Task.CompletedTask;
        _progress = new ImportProgressCounter();
        _work = RunAsync(_progress, _stopping.Token);
        return Task.CompletedTask;
    }

    public Task<ImportProgress> GetProgress() => Task.FromResult(
        _progress is { } p && _work is { IsCompleted: false } ? new ImportProgress(true, p.RowsRead, p.BytesRead) : new ImportProgress(false, 0, 0));

    /// <summary>
    /// The activation goes away (on a stopping silo Orleans deactivates every grain, with a token that fires after its
    /// DeactivationTimeout or the host's ShutdownTimeout): a running import is cancelled, its transaction rolls back, and the
    /// job goes back to queued, no crash counted, for another silo to run at once. Should the run not stop within the token's
    /// time, the process exit ends it (PostgreSQL rolls back a transaction whose connection closes) and its next start counts it.
    /// </summary>
    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_work is not { IsCompleted: false } work) return;
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        LogStopping(JobId, reason.ReasonCode.ToString());
        await _stopping.CancelAsync();
        try
        {
            await work.WaitAsync(cancellationToken);
            LogStopped(JobId, stopwatch.ElapsedMilliseconds);
        }
        catch (OperationCanceledException)
        {
            LogStopTimedOut(JobId, stopwatch.ElapsedMilliseconds);
        }
    }

    private async Task RunAsync(ImportProgressCounter progress, CancellationToken stopping)
    {
        this.DelayDeactivation(TimeSpan.FromHours(12));
        (RunOutcome Outcome, long? DatasetId) run;
        try
        {
            run = await RunWithRetriesAsync(progress, retryOptions.Value, stopping);
        }
        finally
        {
            this.DelayDeactivation(TimeSpan.Zero);
        }
        if (run.DatasetId is not { } datasetId) return; // deleted with its dataset
        if (run.Outcome == RunOutcome.HandedBack) NudgeDataset(datasetId);
        // Left pending (or handed back): the dataset's watchdog, reminder or the silos' sweep starts it again.
        if (run.Outcome != RunOutcome.Finished) return;
        await GrainFactory.GetGrain<IDatasetGrain>(datasetId).NotifyFinished(JobId);
    }

    /// <summary>
    /// Runs the import in an import slot, retrying transient errors with backoff; Pending when the job could be neither finished
    /// nor failed, HandedBack when the silo is stopping. With the job's dataset, null when the job is gone.
    /// </summary>
    private async Task<(RunOutcome, long?)> RunWithRetriesAsync(ImportProgressCounter progress, ImportRetryOptions options, CancellationToken stopping)
    {
        long? datasetId = null;
        for (var retry = 1; ; retry++)
        {
            try
            {
                // Beyond the silo's import limit the job waits here, still queued: a silo that dies now has not started it.
                using (await gate.EnterAsync(JobId, stopping))
                {
                    // From here a death of the silo counts as a crash of this job, when it starts again.
                    var firstRun = !_marked;
                    var job = await jobs.MarkProcessingAsync(JobId, firstRun);
                    if (job is null) return await NotPendingAsync();
                    _marked = true;
                    datasetId = job.DatasetId;
                    if (job.Crashes >= options.MaxCrashes)
                    {
                        LogGivenUpAfterCrashes(JobId, job.Crashes);
                        return (await TryFailAsync($"The import was given up: the server running it stopped {job.Crashes} times "
                            + "before it finished (for example, it ran out of memory). Nothing was loaded."), datasetId);
                    }
                    if (firstRun) LogRunStarting(JobId, job.DatasetId, Environment.ProcessId, job.Crashes);
                    // Off the grain scheduler: parsing and COPY are long-running and CPU-bound.
                    await Task.Run(() => runner.RunAsync(job, progress, stopping));
                }
                return (RunOutcome.Finished, datasetId);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return (await HandBackAsync(), datasetId ?? await DatasetOfAsync());
            }
            catch (Exception e) when (ImportErrors.IsTransient(e) && retry <= options.TransientRetries)
            {
                var delay = options.DelayBefore(retry);
                LogTransientError(e, JobId, retry, options.TransientRetries, delay.TotalSeconds);
                try { await Task.Delay(delay, stopping); }
                catch (OperationCanceledException) { return (await HandBackAsync(), datasetId ?? await DatasetOfAsync()); }
            }
            catch (Exception e) when (ImportErrors.IsTransient(e))
            {
                LogTransientRetriesExhausted(e, JobId, options.TransientRetries);
                return (await TryFailAsync($"The import was given up after {options.TransientRetries + 1} attempts that failed on a temporary database problem; "
                    + $"nothing was loaded, upload it again. Last error: {ImportErrors.Describe(e)}"), datasetId ?? await DatasetOfAsync());
            }
            catch (Exception e)
            {
                // The runner fails the job itself for everything but outages; this is an error it could not even record. Left
                // pending, it would fail alike on every restart and hold its dataset's queue forever: fail it with a reason that
                // quotes nothing of the file.
                LogUnrecordedFailure(e, JobId);
                return (await TryFailAsync($"Internal error while importing: {ImportErrors.Describe(e)}"), datasetId ?? await DatasetOfAsync());
            }
        }
    }

    /// <summary>
    /// The job was not pending when its run was to start: finished already (its dataset is told, so its queue moves on) or gone
    /// with its dataset (nothing to tell).
    /// </summary>
    private async Task<(RunOutcome, long?)> NotPendingAsync() =>
        (RunOutcome.Finished, (await jobs.GetAsync(JobId))?.DatasetId);

    /// <summary>The job's dataset when the run ended before the job was marked (null when the job is gone or cannot be read).</summary>
    private async Task<long?> DatasetOfAsync()
    {
        try { return (await jobs.GetAsync(JobId))?.DatasetId; }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException) { return null; }
    }

    /// <summary>The run was cancelled and rolled back: processing -> queued. A job still queued or already finished is left as it is.</summary>
    private async Task<RunOutcome> HandBackAsync()
    {
        try
        {
            await jobs.HandBackAsync(JobId);
        }
        catch (Exception e)
        {
            // Left "processing", which is pending too: the next run takes it all the same, and no crash is counted.
            LogHandBackFailed(e, JobId);
        }
        return RunOutcome.HandedBack;
    }

    /// <summary>
    /// Tells the dataset its job is queued again, so it starts the job on a live silo now rather than at its next reminder or
    /// sweep (when the dataset grain was on this stopping silo too, the message reactivates it elsewhere). Not awaited: the
    /// dataset grain's answer waits for its Start call to this job, which waits for this activation to finish deactivating.
    /// </summary>
    private void NudgeDataset(long datasetId)
    {
        var sent = GrainFactory.GetGrain<IDatasetGrain>(datasetId).NotifyEnqueued(JobId);
        _ = sent.ContinueWith(t => LogNudgeFailed(t.Exception!, JobId), CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
    }

    private async Task<RunOutcome> TryFailAsync(string reason)
    {
        try
        {
            await jobs.FailAsync(JobId, new ImportFailureRecord(JobStatus.Failed, reason));
            return RunOutcome.Finished;
        }
        catch (Exception e)
        {
            LogRunFailed(e, JobId);
            return RunOutcome.Pending;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Import {JobId} of dataset {DatasetId} starting in process {ProcessId} ({Crashes} earlier runs cut short)")]
    private partial void LogRunStarting(long jobId, long datasetId, int processId, int crashes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Import {JobId} hit a transient error (retry {Retry} of {Retries} in {DelaySeconds} s)")]
    private partial void LogTransientError(Exception exception, long jobId, int retry, int retries, double delaySeconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "Import {JobId} still failed on transient errors after {Retries} retries; failing it")]
    private partial void LogTransientRetriesExhausted(Exception exception, long jobId, int retries);

    [LoggerMessage(Level = LogLevel.Error, Message = "Import {JobId} failed with an error the import could not record; failing it with that error")]
    private partial void LogUnrecordedFailure(Exception exception, long jobId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Import {JobId} could not be run nor its failure recorded; it stays pending and will be started again")]
    private partial void LogRunFailed(Exception exception, long jobId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Import {JobId} was cut short by a crash {Crashes} times; failing it")]
    private partial void LogGivenUpAfterCrashes(long jobId, int crashes);

    [LoggerMessage(Level = LogLevel.Information, Message = "Import {JobId}: its activation is going away ({Reason}); cancelling the run to hand it back")]
    private partial void LogStopping(long jobId, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Import {JobId}: run cancelled and rolled back in {Milliseconds} ms")]
    private partial void LogStopped(long jobId, long milliseconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "Import {JobId}: the run did not stop within the deactivation time ({Milliseconds} ms); the process exit rolls it back and its next start counts it as cut short")]
    private partial void LogStopTimedOut(long jobId, long milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Import {JobId}: could not hand the job back to its queue; it stays processing and runs again all the same")]
    private partial void LogHandBackFailed(Exception exception, long jobId);

    // Expected on a stopping silo: Orleans fails the call's pending answer once the host shuts down, although the message went out.
    [LoggerMessage(Level = LogLevel.Information, Message = "Import {JobId}: no answer from its dataset to \"queued again\" (normal while this silo shuts down); should the message be lost, the dataset's watchdog, reminder or the silos' sweep starts the job")]
    private partial void LogNudgeFailed(Exception exception, long jobId);
}
