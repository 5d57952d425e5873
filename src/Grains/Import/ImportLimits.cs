using System.ComponentModel.DataAnnotations;

namespace DatasetPlatform.Grains.Import;

/// <summary>
/// What reading one upload may cost, whatever the file claims: bounds on decompression and on every piece of text that is
/// buffered before it can be checked (a field, a record or JSON line, a header). Bound from the "Import" section; the
/// environment variables in <see cref="EnvironmentKeys"/> override it. Imports run in silos, so every silo host binds these.
/// </summary>
public sealed class ImportLimits
{
    public const string Section = "Import";

    /// <summary>Environment variable names (documented in the README) and the configuration keys they set.</summary>
    public static readonly IReadOnlyDictionary<string, string> EnvironmentKeys = new Dictionary<string, string>
    {
        ["MAX_DECOMPRESSED_BYTES"] = $"{Section}:{nameof(MaxDecompressedBytes)}",
        ["MAX_EXPANSION_RATIO"] = $"{Section}:{nameof(MaxExpansionRatio)}",
        ["MAX_FIELD_CHARS"] = $"{Section}:{nameof(MaxFieldChars)}",
        ["MAX_RECORD_CHARS"] = $"{Section}:{nameof(MaxRecordChars)}",
        ["MAX_HEADER_CHARS"] = $"{Section}:{nameof(MaxHeaderChars)}",
        ["MAX_PARQUET_ROW_GROUP_BYTES"] = $"{Section}:{nameof(MaxParquetRowGroupBytes)}",
        ["DP_MERGE_KEY_INDEX_MIN_ROWS"] = $"{Section}:{nameof(MergeKeyIndexMinRows)}",
        ["DP_MERGE_ROW_HASHES_MAX_ROWS"] = $"{Section}:{nameof(MergeRowHashesMaxRows)}",
        ["DP_MERGE_IN_PLACE_MAX_BYTES"] = $"{Section}:{nameof(MergeInPlaceMaxBytes)}",
        ["DP_PAIRED_LOAD_SEGMENT_BYTES"] = $"{Section}:{nameof(PairedLoadSegmentBytes)}",
        ["DP_COPY_ROW_AT_A_TIME_MAX_ROWS"] = $"{Section}:{nameof(CopyRowAtATimeMaxRows)}",
        ["DP_IMPORT_WARMUP_ROWS"] = $"{Section}:{nameof(WarmupRows)}",
    };

    /// <summary>
    /// Largest file once decompressed (gzip, or a gzip-wrapped Parquet file), default 4 GiB: eight times the default upload
    /// limit, which covers ordinary CSV (gzip shrinks it 4-10 times) while an import stays minutes, not hours.
    /// </summary>
    [Range(1024, long.MaxValue)] public long MaxDecompressedBytes { get; set; } = 4L << 30;

    /// <summary>
    /// Largest ratio of decompressed to compressed bytes, default 250. Measured with gzip -6: CSV with any varying column (an id,
    /// a date) compresses 5-10 times; a synthetic file of a few repeating rows about 230; one repeated row about 680; gzip's
    /// own ceiling is about 1030, which is where bombs sit. Judged on the bytes read so far, past
    /// <see cref="ExpansionRatioGraceBytes"/> of output, so small files with a big ratio still load and a bomb stops early.
    /// </summary>
    [Range(2, int.MaxValue)] public int MaxExpansionRatio { get; set; } = 250;

    /// <summary>Decompressed output below which the ratio is not judged (16 MiB: cheap to produce, whatever the ratio).</summary>
    public const long ExpansionRatioGraceBytes = 16L << 20;

    /// <summary>Longest field (CSV field or JSON value), default 1 Mi characters: far above real data, small enough to buffer.</summary>
    [Range(16, int.MaxValue)] public int MaxFieldChars { get; set; } = 1 << 20;

    /// <summary>
    /// Longest record (a CSV record or one JSON line), default 16 Mi characters (32 MB of memory at most): the parser's buffer
    /// never grows beyond it, so one endless line fails when this much has been read, not when the file ends.
    /// </summary>
    [Range(1024, 1 << 29)] public int MaxRecordChars { get; set; } = 16 << 20;

    /// <summary>
    /// Longest header row (all column names together), default 1 Mi characters: the widest accepted header
    /// (<see cref="Schema.DatasetLimits.MaxColumns"/> columns) with names of 650 characters on average.
    /// </summary>
    [Range(1024, int.MaxValue)] public int MaxHeaderChars { get; set; } = 1 << 20;

    /// <summary>
    /// Largest Parquet row group held in memory at once, default 512 MiB, counted from the page sizes in the file and from
    /// rows x columns (the decoded slots), never from the footer's own total.
    /// </summary>
    [Range(1 << 20, long.MaxValue)] public long MaxParquetRowGroupBytes { get; set; } = 512L << 20;

    /// <summary>
    /// Live rows from which a keyed dataset gets an index of its live keys, default 100,000: built by the first merge of an
    /// upload with at most a tenth as many rows, so that such merges probe the index per uploaded row instead of hashing every
    /// live row (measured, 2,100 rows into 1M: 3.5 s before, 20 ms with the index, which took about 1.5-3 s to build once).
    /// Below it, hashing the live rows costs little; big uploads never build it (they hash either way).
    /// </summary>
    [Range(1, long.MaxValue)] public long MergeKeyIndexMinRows { get; set; } = 100_000;

    /// <summary>
    /// Live rows up to which a merge holds their key hashes, places and row hashes in memory (24 bytes each: 48 MB at the
    /// default 2,000,000) while a re-upload streams in, so rows it has unchanged are staged as keys only (or not at all) and
    /// skip the merge's join (1M rows, 10% changed: see README). Bigger datasets merge every staged row in the database,
    /// comparing the stored hashes there; 0 never reads them.
    /// </summary>
    [Range(0, long.MaxValue)] public long MergeRowHashesMaxRows { get; set; } = 2_000_000;

    /// <summary>
    /// Uploads up to this many bytes (as staged, so gzip counts compressed), default 1 MiB, merge into a keyed dataset of fewer than
    /// <see cref="MergeKeyIndexMinRows"/> live rows in place (<see cref="KeyedMerge.RunInPlaceAsync"/>): their rows COPY straight
    /// into the dataset's table and one statement then drops the ones that change nothing and closes the live rows they replace,
    /// instead of a temporary table per import (catalog rows written and deleted, ~2.5 ms of PostgreSQL CPU), a second write of
    /// every row and a read of the live rows' hashes. A row that changes nothing is written and deleted again, which is why big
    /// uploads (re-uploads of a whole dataset, mostly unchanged) keep the staging table; 0 turns the path off.
    /// </summary>
    [Range(0, long.MaxValue)] public long MergeInPlaceMaxBytes { get; set; } = 1L << 20;

    /// <summary>
    /// Rows up to which a load into a dataset's table has PostgreSQL insert them one by one instead of buffering them, default 4000
    /// (<see cref="Storage.DataTables.RowAtATimeDefault"/>: below about 5000 rows that saves the fixed cost of COPY's buffer, ~1 ms of
    /// backend CPU per statement on PostgreSQL 15). The load holds its first rows in memory until it knows (at most 512 KiB of
    /// them: past that it buffers); 0 always buffers.
    /// </summary>
    [Range(0, 100_000)] public int CopyRowAtATimeMaxRows { get; set; } = 4000;

    /// <summary>
    /// Bytes of rows per COPY statement of a paired merge (<see cref="SegmentedCopy"/>), default 1 MiB: before each segment's COPY
    /// the connection closes the live rows its rows change, so the close runs beside the parse. Smaller segments start the
    /// database sooner and cost two statements each; the parse runs at most two segments ahead.
    /// </summary>
    [Range(1 << 10, 1 << 30)] public int PairedLoadSegmentBytes { get; set; } = 1 << 20;

    /// <summary>
    /// Generated rows a silo loads (into a temporary table, rolled back) when it starts, before it reports ready, so that its first
    /// import runs on compiled, optimized code (<see cref="ImportWarmup"/>); 0 turns the warm-up off.
    /// </summary>
    [Range(0, 10_000_000)] public int WarmupRows { get; set; } = 50_000;
}
