namespace DatasetPlatform.LoadTest;

/// <summary>The four client surfaces an upload can come through (shared/API.md).</summary>
public enum Door
{
    /// <summary>Seed 000/001: PUT /datasets/{id}/data multipart with a manifest, overlapping keyed upserts.</summary>
    Alphacast,

    /// <summary>Seed 002: GET upload-url, PUT JSON lines to the presigned URL; records append.</summary>
    Presigned,

    /// <summary>Seed 003: PATCH /Dataset/{name}/data numbered blocks of up to 1000 records; a block number sent again replaces that block.</summary>
    Blocks,

    /// <summary>Seed 004: POST /api/datasets/upload, then POST /api/datasets/{id}/versions; each version replaces the data.</summary>
    Versions,
}

public static class DoorNames
{
    public static readonly IReadOnlyList<Door> All = [Door.Alphacast, Door.Presigned, Door.Blocks, Door.Versions];

    public static string Name(Door door) => door.ToString().ToLowerInvariant();

    public static Door Parse(string name) => Enum.TryParse<Door>(name.Trim(), ignoreCase: true, out var door)
        ? door
        : throw new ArgumentException($"Unknown door '{name}'. Use alphacast, presigned, blocks or versions.");
}
