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
            // Measured with the JIT's log: after the passes, the first 1M-row import compiled 2 of its hot path's methods.
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
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Only speed is at stake: the silo starts anyway, and its first import compiles what it needs.
            LogWarmupFailed(e);
        }
    }

    private const int Passes = 3;
    private static readonly TimeSpan SettleDelay = TimeSpan.FromMilliseconds(250);

    /// <summary>An Alphacast-like load: keys from a manifest, every row's key and row hash, into a table like a dataset's.</summary>
    private static async Task LoadKeyedAsync(NpgsqlConnection connection, ImportLimits limits, bool gzip, CancellationToken cancellationToken)
    {
        Stream file = new GeneratedCsv(limits.WarmupRows);
        if (gzip) file = await Compressed(file, cancellationToken);
        var decoded = await UploadDecoder.DecompressIfNeededAsync(file, limits, parquetExpected: false, cancellationToken);
        using var source = await RowSourceFactory.OpenAsync(decoded, [], strictFields: false, limits, cancellationToken)
            ?? throw new InvalidOperationException("The generated file has no rows.");
        var plan = LoadPlan.Build(source.Columns, Keys, [], KeyedRules, firstFreeOrdinal: 0);
        await CreateTableAsync(connection, plan);
        var target = new CopyTarget("pg_temp.dp_warmup", Version: 0, Block: null, RejectInvalidRows: false, Freeze: false) { RowHashes = true };
        await CopyRows.RunAsync(connection, source, plan, target, new ImportProgressCounter(), cancellationToken);
    }

    /// <summary>A seed-004-like load: types inferred from the first rows and checked over the rest, the quality figures gathered.</summary>
    private static async Task LoadVersionAsync(NpgsqlConnection connection, ImportLimits limits, CancellationToken cancellationToken)
    {
        Task<Stream> Open(CancellationToken _) => Task.FromResult<Stream>(new GeneratedCsv(limits.WarmupRows));
        var inference = await TypeInference.InferPrefixAsync(Open, limits, Math.Min(TypeInference.PrefixRows, limits.WarmupRows / 2), cancellationToken);
        await using var stream = await Open(cancellationToken);
        using var source = await CsvRowSource.OpenAsync(TypeInference.Reader(stream, inference.Dialect), inference.Dialect, limits,
            reportEncodingErrors: true, cancellationToken) ?? throw new InvalidOperationException("The generated file has no rows.");
        var plan = LoadPlan.Build(source.Columns, Keys, [], KeyedRules, firstFreeOrdinal: 0);
        await CreateTableAsync(connection, plan);
        var target = new CopyTarget("pg_temp.dp_warmup", Version: 0, Block: null, RejectInvalidRows: false, Freeze: false) { ProfileRows = true };
        await CopyRows.RunAsync(connection, inference.Checks?.Wrap(source) ?? source, plan, target, new ImportProgressCounter(), cancellationToken);
    }

    private static async Task CreateTableAsync(NpgsqlConnection connection, LoadPlan plan)
    {
        var columns = string.Join(", ", plan.Loaded.Select(c => $"{c.Column.Physical} {c.Column.SqlType}"));
        await using var command = new NpgsqlCommand(
            $"DROP TABLE IF EXISTS pg_temp.dp_warmup; CREATE TEMP TABLE dp_warmup (_vf integer, {columns}, {Storage.DataTables.RowHashColumn} uuid) ON COMMIT DROP",
            connection);
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
    /// A CSV like the files users upload (a date, an entity, some of it quoted with a comma inside, integers, decimals with and
    /// without fractions, negatives, empty values), produced as it is read: no buffer of the whole file.
    /// </summary>
    internal sealed class GeneratedCsv(int rows) : Stream
    {
        private const int Entities = 250;
        private static readonly DateOnly FirstDate = new(1990, 1, 1);
        private readonly StringBuilder _line = new(256);
        private byte[] _pending = Encoding.UTF8.GetBytes("Date,Country,Code,GDP,Growth,Inflation,Population,Exports,Rate\n");
        private int _pendingOffset;
        private int _row;

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var written = 0;
            while (written < buffer.Length)
            {
                if (_pendingOffset == _pending.Length)
                {
                    if (_row == rows) break;
                    _pending = Encoding.UTF8.GetBytes(Line(_row++));
                    _pendingOffset = 0;
                }
                var n = Math.Min(buffer.Length - written, _pending.Length - _pendingOffset);
                _pending.AsSpan(_pendingOffset, n).CopyTo(buffer[written..]);
                _pendingOffset += n;
                written += n;
            }
            return written;
        }

        private string Line(int row)
        {
            var i = CultureInfo.InvariantCulture;
            var x = (row * 7919L) % 100_003;
            _line.Clear()
                .Append(FirstDate.AddDays(row / Entities).ToString("yyyy-MM-dd", i)).Append(',')
                .Append(row % 5 == 0 ? "\"Korea, Rep. " : "Country ").Append(row % Entities).Append(row % 5 == 0 ? "\"," : ",")
                .Append(x).Append(',')
                .Append((x * 13.37).ToString("F3", i)).Append(',')
                .Append(((x % 200) - 100) / 10.0 is var growth ? growth.ToString(i) : "").Append(',')
                .Append(row % 17 == 0 ? "" : (x / 977.0).ToString("F2", i)).Append(',')
                .Append(x * 1000 + row).Append(',')
                .Append((x * 0.001).ToString("R", i)).Append(',')
                .Append(((x % 9) * 0.25).ToString(i)).Append('\n');
            return _line.ToString();
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
