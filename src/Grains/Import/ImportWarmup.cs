using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using DatasetPlatform.Grains.Schema;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace DatasetPlatform.Grains.Import;

/// <summary>
/// Runs the import's hot path (gzip, CSV parsing, type inference and checks, the COPY encoder, row and key hashes, the quality
/// figures, binary COPY) over generated rows when a silo starts, into a temporary table of a transaction that is rolled back,
/// so that the first real import after a start runs on code .NET has already compiled and optimized.
/// </summary>
/// <remarks>
/// Why: even with ReadyToRun, a silo's first 1M-row import cost 2.7 s of service CPU against 1.2 s for the next one
/// (bench/ingest.sh, cold vs warm; e2e 0.53 of <c>\copy</c> against 0.79). perf showed 38% of that import's samples in .NET's
/// tiered-compilation thread and 27% in the JIT: ReadyToRun cannot precompile generic code of other assemblies instantiated
/// over this one's types (7,564 methods were JIT-compiled at tier 0), and hot methods are compiled again, optimized, after 30
/// calls. Running the path here moves that work before the silo reports ready. Nothing is written: the table is temporary and
/// the transaction is rolled back. Import:WarmupRows (DP_IMPORT_WARMUP_ROWS) sets how many rows; 0 turns it off.
/// </remarks>
internal sealed partial class ImportWarmup(NpgsqlDataSource dataSource, IOptions<ImportLimits> importLimits, ILogger<ImportWarmup> logger) : IStartupTask
{
    private static readonly IReadOnlyList<ManifestEntry> Keys =
    [
        new() { SourceName = "Date", DataType = "Date", IsEntity = true, DateFormat = "%Y-%m-%d" },
        new() { SourceName = "Country", DataType = "String", IsEntity = true },
    ];

    private static readonly LoadRules KeyedRules = new(RequireDate: true, SchemaDefinesColumns: false, UnknownColumns.Accept, RowKeys.Manifest);

    public async Task Execute(CancellationToken cancellationToken)
    {
        var limits = importLimits.Value;
        if (limits.WarmupRows == 0) return;
        var timer = Stopwatch.StartNew();
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            // Several passes: .NET starts counting calls (to optimize the hot methods) only once start-up has stopped compiling new
            // code for a moment, so one pass can end before counting began and leave the optimization to the first real import.
            // Measured with the JIT's log: after the passes (and with calls counted from the first: CallCountingDelayMs=0 in the
            // hosts' runtimeconfig), the first 1M-row import compiled 5 of its hot path's methods, against 88 without that setting.
            for (var pass = 0; pass < Passes; pass++)
            {
                await LoadKeyedAsync(connection, limits, gzip: pass % 2 == 1, cancellationToken);
                await LoadVersionAsync(connection, limits, cancellationToken);
                LogPass(pass + 1, timer.ElapsedMilliseconds);
            }
            // Lets the background compilation the last pass queued finish before the silo goes on.
            await Task.Delay(SettleDelay, cancellationToken);
            await transaction.RollbackAsync(cancellationToken);
            LogWarmedUp(limits.WarmupRows, Passes, timer.ElapsedMilliseconds);
            // The passes' garbage (parser buffers, the COPY pipe's segments) would otherwise stay in the heap the process keeps
            // mapped, part of the memory budget (< 300 MB for everything run.sh starts); an aggressive collection returns it.
            ImportRunner.ReturnHeapToSystem();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Only speed is at stake: the silo starts anyway, and its first import compiles what it needs.
            LogWarmupFailed(e);
        }
    }

    private const int Passes = 3;
    private static readonly TimeSpan SettleDelay = TimeSpan.FromMilliseconds(250);

    /// <summary>An Alphacast-like load: keys from a manifest, every row's key and row hash, into a merge's staging table.</summary>
    private static async Task LoadKeyedAsync(NpgsqlConnection connection, ImportLimits limits, bool gzip, CancellationToken cancellationToken)
    {
        Stream file = new GeneratedCsvStream(GeneratedLines(limits.WarmupRows));
        if (gzip) file = await Compressed(file, cancellationToken);
        var decoded = await UploadDecoder.DecompressIfNeededAsync(file, limits, parquetExpected: false, cancellationToken);
        using var source = await RowSourceFactory.OpenAsync(decoded, [], strictFields: false, limits, cancellationToken)
            ?? throw new InvalidOperationException("The generated file has no rows.");
        var plan = LoadPlan.Build(source.Columns, Keys, [], KeyedRules, firstFreeOrdinal: 0);
        await CreateStageAsync(connection, plan);
        var target = new CopyTarget("pg_temp.dp_stage", Version: null, Block: null, RejectInvalidRows: false, Freeze: false) { RowHashes = true };
        await CopyRows.RunAsync(connection, source, plan, target, new ImportProgressCounter(), cancellationToken);
    }

    /// <summary>A seed-004-like load: types inferred from the first rows and checked over the rest, the quality figures gathered.</summary>
    private static async Task LoadVersionAsync(NpgsqlConnection connection, ImportLimits limits, CancellationToken cancellationToken)
    {
        Task<Stream> Open(CancellationToken _) => Task.FromResult<Stream>(new GeneratedCsvStream(GeneratedLines(limits.WarmupRows)));
        var inference = await TypeInference.InferPrefixAsync(Open, limits, Math.Min(TypeInference.PrefixRows, limits.WarmupRows / 2), cancellationToken);
        await using var stream = await Open(cancellationToken);
        using var source = await CsvRowSource.OpenAsync(TypeInference.Reader(stream, inference.Dialect), inference.Dialect, limits,
            reportEncodingErrors: true, cancellationToken) ?? throw new InvalidOperationException("The generated file has no rows.");
        var plan = LoadPlan.Build(source.Columns, Keys, [], KeyedRules, firstFreeOrdinal: 0);
        await CreateStageAsync(connection, plan);
        var target = new CopyTarget("pg_temp.dp_stage", Version: null, Block: null, RejectInvalidRows: false, Freeze: false) { ProfileRows = true };
        await CopyRows.RunAsync(connection, inference.Checks?.Wrap(source) ?? source, plan, target, new ImportProgressCounter(), cancellationToken);
    }

    /// <summary>The temporary table a keyed merge stages an upload in (<see cref="KeyedMerge.CreateStageSql"/>), new for each load.</summary>
    private static async Task CreateStageAsync(NpgsqlConnection connection, LoadPlan plan)
    {
        await using var command = new NpgsqlCommand(
            $"DROP TABLE IF EXISTS pg_temp.dp_stage; {KeyedMerge.CreateStageSql(plan, new StagedHashes(Stored: true, UnchangedMarked: false))}", connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>The generated file, gzip-compressed into a temporary file (deleted when closed), as a .csv.gz upload arrives.</summary>
    private static async Task<Stream> Compressed(Stream plain, CancellationToken cancellationToken)
    {
        var temporary = new FileStream(Path.GetTempFileName(), FileMode.Open, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
        await using (var gzip = new GZipStream(temporary, CompressionLevel.Fastest, leaveOpen: true)) await plain.CopyToAsync(gzip, cancellationToken);
        temporary.Position = 0;
        return temporary;
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Import path warmed up with {Rows} generated rows per pass, {Passes} passes, in {Milliseconds} ms")]
    private partial void LogWarmedUp(int rows, int passes, long milliseconds);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Import warm-up pass {Pass} done, {Milliseconds} ms since the start")]
    private partial void LogPass(int pass, long milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Import warm-up failed; the first import compiles what it needs")]
    private partial void LogWarmupFailed(Exception exception);

    /// <summary>
    /// The lines of a CSV like the files users upload (a date, an entity, some of it quoted with a comma inside, integers, decimals
    /// with and without fractions, negatives, empty values): a header and <paramref name="rows"/> rows, produced as they are read.
    /// </summary>
    internal static IEnumerable<string> GeneratedLines(int rows)
    {
        const int entities = 250;
        var firstDate = new DateOnly(1990, 1, 1);
        var i = CultureInfo.InvariantCulture;
        var line = new StringBuilder(256);
        yield return "Date,Country,Code,GDP,Growth,Inflation,Population,Exports,Rate";
        for (var row = 0; row < rows; row++)
        {
            var x = (row * 7919L) % 100_003;
            line.Clear()
                .Append(firstDate.AddDays(row / entities).ToString("yyyy-MM-dd", i)).Append(',')
                .Append(row % 5 == 0 ? "\"Korea, Rep. " : "Country ").Append(row % entities).Append(row % 5 == 0 ? "\"," : ",")
                .Append(x).Append(',')
                .Append((x * 13.37).ToString("F3", i)).Append(',')
                .Append((((x % 200) - 100) / 10.0).ToString(i)).Append(',')
                .Append(row % 17 == 0 ? "" : (x / 977.0).ToString("F2", i)).Append(',')
                .Append(x * 1000 + row).Append(',')
                .Append((x * 0.001).ToString("R", i)).Append(',')
                .Append(((x % 9) * 0.25).ToString(i));
            yield return line.ToString();
        }
    }
}
