using DatasetPlatform.Grains.Abstractions;
using DatasetPlatform.Grains.Storage;
using Microsoft.Extensions.Logging;

namespace DatasetPlatform.Grains;

/// <summary>
/// Serializes a dataset's imports and is the only writer of its state. The queue itself is durable in the catalog (jobs
/// still queued or processing, by position); this grain only decides which one runs. A change to the dataset takes a
/// position in the same order and waits here, in memory, until every job before it has finished; the pump applies it
/// before it starts the next job. A reminder exists while work is pending, so after a silo crash the grain comes back and
/// picks the queue up again; a watchdog timer re-pokes the running job, which restarts it if the silo that ran it died.
/// A change waiting in a silo that dies is lost, and its caller is told so (<see cref="DatasetChangeOutcome.Lost"/>).
/// </summary>
public sealed partial class DatasetGrain(JobStore jobs, DatasetStore datasets, VersionStore versions, QueuePositions queue, ILogger<DatasetGrain> logger)
    : Grain, IDatasetGrain, IRemindable
{
    private const string QueueReminder = "import-queue";
    private static readonly TimeSpan WatchdogPeriod = TimeSpan.FromSeconds(5);
    /// <summary>A job grain on a silo that just died must not hold this grain (and every call to it) for the whole response timeout.</summary>
    private static readonly TimeSpan StartCallTimeout = TimeSpan.FromSeconds(5);
    /// <summary>How long a delete waits for whoever holds the dataset (an import, a download) before ending their session.</summary>
    private static readonly TimeSpan DeletePatience = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan LongestWait = TimeSpan.FromSeconds(15);
    /// <summary>How long the outcome of a change that was Pending is kept for a caller that comes back for it.</summary>
    private static readonly TimeSpan OutcomeKept = TimeSpan.FromMinutes(2);

    private long? _running;
    private IGrainTimer? _watchdog;
    private bool _reminderRegistered;
    /// <summary>When the queue was last found empty while the watchdog still ran; null while there is work.</summary>
    private DateTime? _idleSince;
    /// <summary>
    /// Another job waits behind the running one, so the running job's finish reads the queue: set when one is signalled while a
    /// job runs (<see cref="NotifyEnqueued"/> then reads nothing), and by every read of the queue to whether one waits behind its head.
    /// </summary>
    private bool _enqueuedWhileRunning;
    /// <summary>Changes by ticket (queue position): pending ones, and finished ones until their caller collects them.</summary>
    private readonly SortedDictionary<long, PendingChange> _changes = [];
    /// <summary>
    /// One signal per job somebody waits for: true when the job is known to have finished (its job grain said so, after its
    /// outcome committed), false when the waiters must look again (the dataset was deleted).
    /// </summary>
    private readonly Dictionary<long, TaskCompletionSource<bool>> _jobWaiters = [];

    private long DatasetId => this.GetPrimaryKeyLong();

    /// <summary>
    /// A job was committed to the queue. While another job of this dataset runs, the new one waits for it in any case: that
    /// job's finish (or the watchdog, should the finish signal be lost) pumps the queue, so nothing is read or started now
    /// (it was a queue-head read and a Start call per upload that arrived during an import; many-small). A job handed back to
    /// the queue by its stopping silo is the running one, and is started again at once.
    /// </summary>
    public Task NotifyEnqueued(long jobId)
    {
        if (_running is not { } running || running == jobId) return PumpAsync();
        _enqueuedWhileRunning = true;
        return Task.CompletedTask;
    }

    /// <summary>
    /// The running job finished. Only when something may wait behind it (a job signalled meanwhile, a pending change) is the
    /// queue read now; else the queue is taken as empty, as a read would most likely find it (one read per import saved), and
    /// the watchdog, which stays for one more period, reads it then: a job whose signal was lost starts within that period,
    /// and one whose signal is still on its way starts when it arrives.
    /// </summary>
    public Task NotifyFinished(long jobId)
    {
        WakeWaiters(jobId, finished: true);
        if (_running != jobId) return PumpAsync();
        _running = null;
        if (_enqueuedWhileRunning || _watchdog is null || _changes.Values.Any(c => !c.Done.Task.IsCompleted)) return PumpAsync();
        _idleSince ??= DateTime.UtcNow;
        return Task.CompletedTask;
    }

    public Task<long?> GetRunningJob() => Task.FromResult(_running);

    public Task ReceiveReminder(string reminderName, TickStatus status) => PumpAsync();

    public async Task<JobWaitOutcome> WaitForJob(long jobId, TimeSpan maxWait)
    {
        // Listen before looking, so a finish between the look and the wait is not missed.
        if (!_jobWaiters.TryGetValue(jobId, out var finished))
            _jobWaiters[jobId] = finished = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        // The job this grain started and has not heard finish (NotifyFinished clears _running) is running: only its finish
        // signal needs waiting for. Any other job is looked up, since it may have finished already.
        var outcome = _running == jobId ? JobWaitOutcome.Running : await LookAtJobAsync(jobId);
        if (outcome == JobWaitOutcome.Running)
        {
            await Task.WhenAny(finished.Task, Task.Delay(Cap(maxWait)));
            // Woken by the job's finish: no need to read the job again (a synchronous upload waits once per import).
            outcome = finished.Task is { IsCompletedSuccessfully: true, Result: true } ? JobWaitOutcome.Finished : await LookAtJobAsync(jobId);
        }
        if (outcome != JobWaitOutcome.Running) WakeWaiters(jobId, finished: outcome == JobWaitOutcome.Finished);
        return outcome;
    }

    public async Task<DatasetChangeResult> Create(DatasetDefinition definition)
    {
        try
        {
            await datasets.CreateAsync(DatasetId, definition);
            return new DatasetChangeResult(DatasetChangeOutcome.Applied);
        }
        catch (DatasetNameTakenException)
        {
            return new DatasetChangeResult(DatasetChangeOutcome.NameTaken);
        }
    }

    public Task<DatasetChangeResult> ChangeManifest(ManifestChange change) =>
        SubmitAsync(() => datasets.ChangeManifestAsync(DatasetId, change, dataset =>
            change.ManifestJson is null ? DatasetChangeOutcome.Applied
            : dataset.IsBlocks && dataset.CurrentVersion is not null ? DatasetChangeOutcome.ColumnsFixed
            : dataset.ManifestLocked && change.Locked != false ? DatasetChangeOutcome.ManifestLocked
            : DatasetChangeOutcome.Applied));

    public Task<DatasetChangeResult> SetCompleted(bool completed) =>
        SubmitAsync(() => datasets.SetCompletedAsync(DatasetId, completed, dataset =>
            dataset.Completed && !completed ? DatasetChangeOutcome.CannotReopen : DatasetChangeOutcome.Applied));

    public async Task<DatasetChangeResult> WaitForChange(long ticket, TimeSpan maxWait)
    {
        if (!_changes.TryGetValue(ticket, out var change)) return new DatasetChangeResult(DatasetChangeOutcome.Lost, ticket);
        await Task.WhenAny(change.Done.Task, Task.Delay(Cap(maxWait)));
        return Collect(ticket, change) ?? new DatasetChangeResult(DatasetChangeOutcome.Pending, ticket);
    }

    public async Task<bool> Delete()
    {
        var (existed, ended) = await datasets.DeleteAsync(DatasetId, DeletePatience);
        if (existed) LogDeleted(DatasetId, _running, ended.Count);
        // Whatever waited on this dataset learns it is gone: waiters look at the catalog again, pending changes find nothing.
        foreach (var change in _changes.Values.Where(c => !c.Done.Task.IsCompleted)) change.Finish(DatasetChangeOutcome.NotFound);
        foreach (var jobId in _jobWaiters.Keys.ToList()) WakeWaiters(jobId, finished: false);
        // The running import finds its job gone when it next looks (at once if its session was ended) and reports back; nothing
        // is left to start.
        _running = null;
        _watchdog?.Dispose();
        _watchdog = null;
        await UnregisterReminderAsync();
        return existed;
    }

    public Task SaveVersionReport(VersionReport report) => versions.SaveReportAsync(DatasetId, report);

    /// <summary>Queues a change at a new position after every job committed so far, applies it if nothing is before it, and says which.</summary>
    private async Task<DatasetChangeResult> SubmitAsync(Func<Task<DatasetChangeOutcome>> apply)
    {
        foreach (var stale in _changes.Where(c => c.Value.FinishedUtc < DateTime.UtcNow - OutcomeKept).Select(c => c.Key).ToList()) _changes.Remove(stale);
        var ticket = await queue.TakeAsync(DatasetId);
        var change = new PendingChange(apply);
        _changes.Add(ticket, change);
        try
        {
            await PumpAsync();
        }
        catch when (!change.Done.Task.IsCompleted)
        {
            _changes.Remove(ticket); // its caller learns it failed: it must not apply later
            throw;
        }
        return Collect(ticket, change) ?? new DatasetChangeResult(DatasetChangeOutcome.Pending, ticket);
    }

    /// <summary>The outcome of a finished change, which is then forgotten; null while it is pending. A change that failed rethrows.</summary>
    private DatasetChangeResult? Collect(long ticket, PendingChange change)
    {
        if (!change.Done.Task.IsCompleted) return null;
        _changes.Remove(ticket);
        return new DatasetChangeResult(change.Done.Task.GetAwaiter().GetResult(), ticket);
    }

    private async Task PumpAsync()
    {
        // A job that committed late with an earlier queue position must not overtake the one already running: while unfinished,
        // the running job is the head.
        var head = await queue.HeadAsync(DatasetId, _running);
        // Jobs already waiting behind the head: its finish reads the queue and starts the next at once. Their signals came
        // before this read, so none arrives after it; taking the queue as empty then left each of them to the watchdog, 5 s
        // apart (bench/load.sh many-small --doors alphacast: imports of 30 ms queued for 9 s on average, the machine 60% idle).
        _enqueuedWhileRunning = head is { MoreWaiting: true };
        if (_running is { } running && head?.JobId == running)
        {
            await StartJobAsync(running);
            return;
        }
        await ApplyChangesBeforeAsync(head?.Position ?? long.MaxValue);
        if (head is not { JobId: var next })
        {
            _running = null;
            // The next upload of a dataset usually follows within moments: the watchdog and the reminder are kept for one more
            // watchdog period and only dropped once the queue has stayed empty that long. Dropping them at once re-registered the
            // reminder for every upload (an upsert, a read and a delete of its row, two of them commits, per import; many-small).
            var now = DateTime.UtcNow;
            _idleSince ??= now;
            if (_watchdog is not null && now - _idleSince < WatchdogPeriod) return;
            _idleSince = null;
            _watchdog?.Dispose();
            _watchdog = null;
            await UnregisterReminderAsync();
            return;
        }
        _idleSince = null;
        if (!_reminderRegistered)
        {
            await this.RegisterOrUpdateReminder(QueueReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
            _reminderRegistered = true;
        }
        if (_running != next) LogStartingJob(DatasetId, next);
        _running = next;
        await StartJobAsync(next);
        _watchdog ??= this.RegisterGrainTimer(_ => PumpAsync(), new GrainTimerCreationOptions(WatchdogPeriod, WatchdogPeriod) { KeepAlive = true });
    }

    /// <summary>Applies, in order, the pending changes whose position is before <paramref name="position"/> (the head of the queue).</summary>
    private async Task ApplyChangesBeforeAsync(long position)
    {
        foreach (var (ticket, change) in _changes.Where(c => c.Key < position && !c.Value.Done.Task.IsCompleted).ToList())
        {
            try
            {
                change.Finish(await change.Apply());
            }
            catch (Exception e)
            {
                // Its caller gets the error; the queue goes on.
                LogChangeFailed(e, DatasetId, ticket);
                change.Fail(e);
            }
        }
    }

    /// <summary>Start is idempotent and returns at once: a live job keeps running, a job whose silo died restarts.</summary>
    private async Task StartJobAsync(long jobId)
    {
        try
        {
            await GrainFactory.GetGrain<IImportJobGrain>(jobId).Start().WaitAsync(StartCallTimeout);
        }
        catch (Exception e)
        {
            LogStartFailed(e, DatasetId, jobId); // the watchdog pokes it again
        }
    }

    private async Task<JobWaitOutcome> LookAtJobAsync(long jobId) => await jobs.GetAsync(jobId) switch
    {
        null => JobWaitOutcome.Gone,
        { } job when job.DatasetId != DatasetId => JobWaitOutcome.Gone,
        { } job when JobStatus.IsTerminal(job.Status) => JobWaitOutcome.Finished,
        _ => JobWaitOutcome.Running,
    };

    private void WakeWaiters(long jobId, bool finished)
    {
        if (_jobWaiters.Remove(jobId, out var waiters)) waiters.TrySetResult(finished);
    }

    private static TimeSpan Cap(TimeSpan wait) => wait < TimeSpan.Zero ? TimeSpan.Zero : wait > LongestWait ? LongestWait : wait;

    private async Task UnregisterReminderAsync()
    {
        var reminder = await this.GetReminder(QueueReminder);
        if (reminder is not null) await this.UnregisterReminder(reminder);
        _reminderRegistered = false;
    }

    private sealed class PendingChange(Func<Task<DatasetChangeOutcome>> apply)
    {
        public Func<Task<DatasetChangeOutcome>> Apply { get; } = apply;
        public TaskCompletionSource<DatasetChangeOutcome> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public DateTime? FinishedUtc { get; private set; }

        public void Finish(DatasetChangeOutcome outcome)
        {
            FinishedUtc = DateTime.UtcNow;
            Done.TrySetResult(outcome);
        }

        public void Fail(Exception exception)
        {
            FinishedUtc = DateTime.UtcNow;
            Done.TrySetException(exception);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Dataset {DatasetId}: running import {JobId}")]
    private partial void LogStartingJob(long datasetId, long jobId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Dataset {DatasetId} deleted (import {RunningJobId} was running; {EndedSessions} database sessions holding it were ended)")]
    private partial void LogDeleted(long datasetId, long? runningJobId, int endedSessions);

    [LoggerMessage(Level = LogLevel.Error, Message = "Dataset {DatasetId}: the change at queue position {Ticket} failed")]
    private partial void LogChangeFailed(Exception exception, long datasetId, long ticket);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dataset {DatasetId}: import {JobId} did not answer its start (in time); the watchdog starts it again")]
    private partial void LogStartFailed(Exception exception, long datasetId, long jobId);
}
