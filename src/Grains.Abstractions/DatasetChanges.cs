namespace DatasetPlatform.Grains.Abstractions;

/// <summary>What a new dataset is created with (<see cref="IDatasetGrain.Create"/>); Mode is "table" or "blocks".</summary>
[GenerateSerializer, Immutable]
public sealed record DatasetDefinition(
    [property: Id(0)] long RepositoryId,
    [property: Id(1)] string Name,
    [property: Id(2)] string Description,
    [property: Id(3)] string? SourceName,
    [property: Id(4)] string? SourceUrl,
    [property: Id(5)] string Mode,
    [property: Id(6)] string? CreatedBy,
    [property: Id(7)] string? ManifestJson = null,
    [property: Id(8)] bool SchemaStrict = false);

/// <summary>A manifest (schema) change; a null member is left as it is (<see cref="IDatasetGrain.ChangeManifest"/>).</summary>
[GenerateSerializer, Immutable]
public sealed record ManifestChange(
    [property: Id(0)] string? ManifestJson,
    [property: Id(1)] bool? Locked = null,
    [property: Id(2)] bool? Strict = null);

/// <summary>How a change to a dataset ended.</summary>
[GenerateSerializer]
public enum DatasetChangeOutcome
{
    Applied,
    /// <summary>Queued behind uploads committed before it; <see cref="DatasetChangeResult.Ticket"/> names it.</summary>
    Pending,
    NotFound,
    NameTaken,
    /// <summary>A block dataset that holds records keeps its columns.</summary>
    ColumnsFixed,
    /// <summary>The manifest is locked and the change does not unlock it.</summary>
    ManifestLocked,
    /// <summary>A completed dataset cannot be reopened.</summary>
    CannotReopen,
    /// <summary>The grain does not know the ticket: the silo holding the change died before it applied. Nothing was applied.</summary>
    Lost,
}

[GenerateSerializer, Immutable]
public sealed record DatasetChangeResult([property: Id(0)] DatasetChangeOutcome Outcome, [property: Id(1)] long Ticket = 0);

/// <summary>What <see cref="IDatasetGrain.WaitForJob"/> saw: the job finished (any terminal status), still runs or waits, or is gone with its dataset.</summary>
[GenerateSerializer]
public enum JobWaitOutcome { Finished, Running, Gone }

[GenerateSerializer]
public enum VersionReportKind { Quality, Analysis }

/// <summary>A computed report (JSON statistics, never rows) kept with a version.</summary>
[GenerateSerializer, Immutable]
public sealed record VersionReport([property: Id(0)] Guid VersionId, [property: Id(1)] VersionReportKind Kind, [property: Id(2)] string Json);
