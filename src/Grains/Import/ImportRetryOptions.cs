using System.ComponentModel.DataAnnotations;

namespace DatasetPlatform.Grains.Import;

/// <summary>
/// How an import job is retried (section "Import"; the DP_IMPORT_* variables map onto it). An outage is retried with
/// backoff and a bound; a crash of the silo running the job is counted, and repeated crashes fail the job.
/// </summary>
public sealed class ImportRetryOptions
{
    public const string Section = "Import";

    /// <summary>Retries of a run after transient database errors (DP_IMPORT_TRANSIENT_RETRIES) before the job fails with the last error.</summary>
    [Range(0, 1000)] public int TransientRetries { get; set; } = 8;

    /// <summary>The wait before a retry doubles from 1 s up to this many seconds (DP_IMPORT_RETRY_MAX_DELAY_SECONDS).</summary>
    [Range(1, 3600)] public int MaxRetryDelaySeconds { get; set; } = 30;

    /// <summary>Runs cut short by the death of their silo (DP_IMPORT_MAX_CRASHES) before the job is given up.</summary>
    [Range(1, 100)] public int MaxCrashes { get; set; } = 3;

    /// <summary>The wait before retry number <paramref name="retry"/> (1-based): 1 s, 2 s, 4 s, ... up to the maximum.</summary>
    public TimeSpan DelayBefore(int retry) => TimeSpan.FromSeconds(Math.Min(MaxRetryDelaySeconds, Math.Pow(2, Math.Min(retry - 1, 20))));
}
