using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace DatasetPlatform.Grains.Import;

/// <summary>
/// Bounds the imports a silo runs at once (DP_MAX_CONCURRENT_IMPORTS, "Silo:MaxConcurrentImports"): each holds database
/// connections and a core for its duration. An import beyond the limit waits, still queued, for a slot; it is never failed.
/// </summary>
public sealed partial class ImportGate
{
    public const int DefaultSlots = 4;

    private readonly SemaphoreSlim _slots;
    private readonly ILogger<ImportGate> _logger;

    public ImportGate(IConfiguration configuration, ILogger<ImportGate> logger)
    {
        Slots = SlotsFrom(configuration);
        _slots = new SemaphoreSlim(Slots, Slots);
        _logger = logger;
    }

    public int Slots { get; }

    /// <summary>"Silo:MaxConcurrentImports", onto which <c>PlatformEnvironment</c> maps DP_MAX_CONCURRENT_IMPORTS.</summary>
    public static int SlotsFrom(IConfiguration configuration) =>
        Math.Max(1, configuration.GetValue<int?>("Silo:MaxConcurrentImports") ?? DefaultSlots);

    /// <summary>Waits for a free slot; dispose the result to give it back.</summary>
    public async Task<IDisposable> EnterAsync(long jobId, CancellationToken cancellationToken)
    {
        if (!_slots.Wait(0))
        {
            LogWaiting(jobId, Slots);
            await _slots.WaitAsync(cancellationToken);
        }
        return new Slot(_slots);
    }

    private sealed class Slot(SemaphoreSlim slots) : IDisposable
    {
        private int _released;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) slots.Release();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Import {JobId} waits for a free import slot ({Slots} running)")]
    private partial void LogWaiting(long jobId, int slots);
}
