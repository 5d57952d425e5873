namespace DatasetPlatform.LoadTest;

/// <summary>
/// One load shape: <see cref="Datasets"/> datasets, <see cref="UploadsPerDataset"/> uploads of <see cref="RowsPerUpload"/> rows to each,
/// sent by <see cref="Clients"/> concurrent clients. A dataset's uploads are sent one after another (the next once the previous got its
/// 201), so their arrival order is known; different datasets' uploads interleave. Datasets are spread over <see cref="Doors"/> in turn.
/// </summary>
public sealed record Scenario(string Name, int Datasets, int UploadsPerDataset, int RowsPerUpload, int Clients, IReadOnlyList<Door> Doors,
    int FixedCostSamples, string Description)
{
    /// <summary>Records per block PATCH (seed 003's limit); a blocks-door upload of more rows is sent as several blocks.</summary>
    public const int MaxBlockRecords = 1000;

    public static readonly IReadOnlyDictionary<string, Scenario> Known = new Dictionary<string, Scenario>(StringComparer.OrdinalIgnoreCase)
    {
        ["smoke"] = new("smoke", 4, 3, 50, 4, DoorNames.All, 3, "tiny: one dataset per door, 3 uploads of 50 rows each (CI)"),
        ["many-small"] = new("many-small", 100, 10, 2000, 16, DoorNames.All, 20, "100 datasets x 10 uploads of 2000 rows, 16 clients"),
        ["big"] = new("big", 4, 3, 1_000_000, 4, [Door.Alphacast, Door.Presigned, Door.Versions, Door.Alphacast], 5,
            "4 datasets x 3 uploads of 1M rows (Alphacast x2, presigned, seed-004 versions; blocks are 1000 records per call)"),
        ["chaos"] = new("chaos", 24, 6, 2000, 8, DoorNames.All, 0,
            "24 datasets x 6 uploads of 2000 rows while one silo is killed (kill -9) once a third of the uploads are acknowledged"),
    };
}
