using DatasetPlatform.Grains.Abstractions;
using DatasetPlatform.Grains.Import;
using DatasetPlatform.Grains.Storage;
using Microsoft.Extensions.Logging;

namespace DatasetPlatform.Grains;

/// <summary>How often a job has been started; persisted so a file that keeps killing its silo is eventually failed.</summary>
[GenerateSerializer]
public sealed class ImportJobAttempts
{
    [Id(0)] public int Attempts { get; set; }
    [Id(1)] public DateTime? LastStartedUtc { get; set; }
}

/// <summary>
/// Runs one import in the background so no grain turn is held for its duration: Start returns at once,
/// status reads interleave freely, and the outcome is reported to the dataset grain when it is known.
/// </summary>
public sealed partial class ImportJobGrain(
    ImportRunner runner,
    JobStore jobs,
    [PersistentState("attempts", "catalog")] IPersistentState<ImportJobAttempts> attempts,
    ILogger<ImportJobGrain> logger) : Grain, IImportJobGrain
{
    private const int MaxAttempts = 3;

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
            attempts.State.Attempts++;
            attempts.State.LastStartedUtc = DateTime.UtcNow;
            await attempts.WriteStateAsync();
            if (attempts.State.Attempts > MaxAttempts)
            {
                await runner.FailAsync(JobId, $"The import was abandoned after {MaxAttempts} attempts that did not finish.");
            }
            else
            {
                this.DelayDeactivation(TimeSpan.FromHours(12));
                try
                {
                    // Off the grain scheduler: parsing and COPY are long-running and CPU-bound.
                    await Task.Run(() => runner.RunAsync(JobId, progress, CancellationToken.None));
                }
                catch (Exception e)
                {
                    // Infrastructure trouble (database gone, network): leave the job pending; the dataset's watchdog starts it again.
                    LogAttemptFailed(e, JobId, attempts.State.Attempts);
                    return;
                }
                finally
                {
                    this.DelayDeactivation(TimeSpan.Zero);
                }
            }
        }
        await GrainFactory.GetGrain<IDatasetGrain>(job.DatasetId).NotifyFinished(JobId);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Import {JobId} attempt {Attempt} failed; it will be retried")]
    private partial void LogAttemptFailed(Exception exception, long jobId, int attempt);
}
