namespace DatasetPlatform.Grains.Abstractions;

/// <summary>The internal lifecycle names of an import job (API.md); each surface maps them to its own words.</summary>
public static class JobStatus
{
    public const string Uninitialised = "uninitialised";
    public const string Queued = "queued";
    public const string Processing = "processing";
    public const string Complete = "complete";
    public const string Partial = "partial";
    public const string Skipped = "skipped";
    public const string Failed = "failed";
    public const string PendingSchema = "pending_schema";

    public static bool IsTerminal(string status) =>
        status is Complete or Partial or Skipped or Failed or PendingSchema;
}
