using DatasetPlatform.Grains.Abstractions;
using DatasetPlatform.Grains.Import;
using DatasetPlatform.Grains.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace DatasetPlatform.Grains;

/// <summary>
/// Whether the job's last run came back, and how many did not. Persisted, so a run cut short by the death of its silo is
/// counted when the job starts again, and a file that keeps killing its silo is eventually failed.
/// </summary>
[GenerateSerializer]
public sealed class ImportJobAttempts
{
    /// <summary>Runs that never came back: their silo died (or stopped) mid-import.</summary>
    [Id(0)] public int Crashes { get; set; }
    [Id(1)] public DateTime? LastStartedUtc { get; set; }
    /// <summary>Set while a run is in progress; still set when the job starts in a new activation means that run was cut short.</summary>
    [Id(2)] public bool Running { get; set; }
}

/// <summary>
/// Runs one import in the background so no grain turn is held for its duration: Start returns at once,
/// status reads interleave freely, and the outcome is reported to the dataset grain when it is known.
/// Errors are told apart (<see cref="ImportErrors"/>): a bad file or a bug fails the job at once (the runner records
/// why), an outage is retried here with backoff up to a bound, and a crash is counted through the persisted state.
/// </summary>
public sealed partial class ImportJobGrain(
    ImportRunner runner,
    JobStore jobs,
    [PersistentState("attempts", "catalog")] IPersistentState<ImportJobAttempts> attempts,
    IOptions<ImportRetryOptions> retryOptions,
    ILogger<ImportJobGrain> logger) : Grain, IImportJobGrain
{
    private Task? _work;
    private ImportProgressCounter? _progress;

    private long JobId => this.GetPrimaryKeyLong();

    public Task Start()
    {
        if (_work is { IsCompleted: false }) return Task.CompletedTask;
        _progress = new ImportProgressCounter();
        _work = RunAsync(_progress);
        return Task.CompletedTask;
    }

    public Task<ImportProgress> GetProgress() => Task.FromResult(
        _progress is { } p && _work is { IsCompleted: false } ? new ImportProgress(true, p.RowsRead, p.BytesRead) : new ImportProgress(false, 0, 0));

    private async Task RunAsync(ImportProgressCounter progress)
    {
        var job = await jobs.GetAsync(JobId);
        if (job is null) return; // deleted with its dataset
        if (!JobStatus.IsTerminal(job.Status))
        {
            var options = retryOptions.Value;
            // Still marked running when this activation starts it: the run before never came back, its silo died.
            if (attempts.State.Running) attempts.State.Crashes++;
            if (attempts.State.Crashes >= options.MaxCrashes)
            {
                LogGivenUpAfterCrashes(JobId, attempts.State.Crashes);
                await runner.FailAsync(JobId, $"The import was given up: the server running it stopped {attempts.State.Crashes} times before it finished "
                    + "(for example, it ran out of memory). Nothing was loaded.");
            }
            else
            {
                LogRunStarting(JobId, job.DatasetId, Environment.ProcessId, attempts.State.Crashes);
                attempts.State.Running = true;
                attempts.State.LastStartedUtc = DateTime.UtcNow;
                await attempts.WriteStateAsync();
                this.DelayDeactivation(TimeSpan.FromHours(12));
                bool finished;
                try
                {
                    finished = await RunWithRetriesAsync(progress, options);
                }
                finally
                {
                    this.DelayDeactivation(TimeSpan.Zero);
                    attempts.State.Running = false;
                    try { await attempts.WriteStateAsync(); }
                    catch (Exception e) { LogStateNotSaved(e, JobId); } // at worst the next activation counts one crash too many
                }
                // Left pending: the dataset's watchdog starts it again.
                if (!finished) return;
            }
        }
        await GrainFactory.GetGrain<IDatasetGrain>(job.DatasetId).NotifyFinished(JobId);
    }

    /// <summary>Runs the import, retrying transient errors with backoff; false when the job could be neither finished nor failed.</summary>
    private async Task<bool> RunWithRetriesAsync(ImportProgressCounter progress, ImportRetryOptions options)
    {
        for (var retry = 1; ; retry++)
        {
            try
            {
                // Off the grain scheduler: parsing and COPY are long-running and CPU-bound.
                await Task.Run(() => runner.RunAsync(JobId, progress, CancellationToken.None));
                return true;
            }
            catch (Exception e) when (ImportErrors.IsTransient(e) && retry <= options.TransientRetries)
            {
                var delay = options.DelayBefore(retry);
                LogTransientError(e, JobId, retry, options.TransientRetries, delay.TotalSeconds);
                await Task.Delay(delay);
            }
            catch (Exception e) when (ImportErrors.IsTransient(e))
            {
                LogTransientRetriesExhausted(e, JobId, options.TransientRetries);
                return await TryFailAsync($"The import was given up after {options.TransientRetries + 1} attempts that failed on a temporary database problem; "
                    + $"nothing was loaded, upload it again. Last error: {ImportErrors.Describe(e)}");
            }
            catch (Exception e)
            {
                // The runner fails the job itself for everything but outages; this is an error it could not even record. Left
                // pending, it would fail alike on every restart and hold its dataset's queue forever: fail it with a reason that
                // quotes nothing of the file.
                LogUnrecordedFailure(e, JobId);
                return await TryFailAsync($"Internal error while importing: {ImportErrors.Describe(e)}");
            }
        }
    }

    private async Task<bool> TryFailAsync(string reason)
    {
        try
        {
            await runner.FailAsync(JobId, reason);
            return true;
        }
        catch (Exception e)
        {
            LogRunFailed(e, JobId);
            return false;
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Import {JobId}: could not record that its run ended")]
    private partial void LogStateNotSaved(Exception exception, long jobId);
}
