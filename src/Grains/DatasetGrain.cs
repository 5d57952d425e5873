using DatasetPlatform.Grains.Abstractions;
using DatasetPlatform.Grains.Storage;
using Microsoft.Extensions.Logging;

namespace DatasetPlatform.Grains;

/// <summary>
/// Serializes a dataset's imports. The queue itself is durable in the catalog (jobs still queued or
/// processing, by id); this grain only decides which one runs. A reminder exists while work is pending,
/// so after a silo crash the grain comes back and picks the queue up again; a watchdog timer re-pokes the
/// running job, which restarts it if the silo that ran it died.
/// </summary>
public sealed partial class DatasetGrain(JobStore jobs, ILogger<DatasetGrain> logger) : Grain, IDatasetGrain, IRemindable
{
    private const string QueueReminder = "import-queue";
    private static readonly TimeSpan WatchdogPeriod = TimeSpan.FromSeconds(5);

    private long? _running;
    private IGrainTimer? _watchdog;
    private bool _reminderRegistered;

    private long DatasetId => this.GetPrimaryKeyLong();

    public Task NotifyEnqueued(long jobId) => PumpAsync();

    public Task NotifyFinished(long jobId)
    {
        if (_running == jobId) _running = null;
        return PumpAsync();
    }

    public Task<long?> GetRunningJob() => Task.FromResult(_running);

    public Task ReceiveReminder(string reminderName, TickStatus status) => PumpAsync();

    private async Task PumpAsync()
    {
        // A job that committed late with an earlier queue position must not overtake the one already running.
        if (_running is { } running && await jobs.GetAsync(running) is { } current && !JobStatus.IsTerminal(current.Status))
        {
            await GrainFactory.GetGrain<IImportJobGrain>(running).Start();
            return;
        }
        var next = await jobs.NextPendingAsync(DatasetId);
        if (next is null)
        {
            _running = null;
            _watchdog?.Dispose();
            _watchdog = null;
            await UnregisterReminderAsync();
            return;
        }
        if (!_reminderRegistered)
        {
            await this.RegisterOrUpdateReminder(QueueReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
            _reminderRegistered = true;
        }
        if (_running != next) LogStartingJob(DatasetId, next.Value);
        _running = next;
        // Start is idempotent and returns at once: a live job keeps running, a job whose silo died restarts.
        await GrainFactory.GetGrain<IImportJobGrain>(next.Value).Start();
        _watchdog ??= this.RegisterGrainTimer(_ => PumpAsync(), new GrainTimerCreationOptions(WatchdogPeriod, WatchdogPeriod) { KeepAlive = true });
    }

    private async Task UnregisterReminderAsync()
    {
        var reminder = await this.GetReminder(QueueReminder);
        if (reminder is not null) await this.UnregisterReminder(reminder);
        _reminderRegistered = false;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Dataset {DatasetId}: running import {JobId}")]
    private partial void LogStartingJob(long datasetId, long jobId);
}
