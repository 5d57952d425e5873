using System.Buffers;
using System.Diagnostics;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Npgsql;

namespace DatasetPlatform.Grains.Storage;

/// <summary>
/// A download read by several PostgreSQL sessions at once, so that it uses more than the one core a COPY statement gets.
/// The table's pages are cut into ranges of <see cref="ReadOptions.DownloadRangePages"/>; session i reads ranges i, i+n,
/// i+2n, ... (a TID range scan each, in table order), and the ranges are sent in order: the rows come out exactly as one
/// sequential scan returns them. Every session reads in the first one's exported snapshot, so the download is one
/// consistent state of the table even while an import commits. A session that is ahead of the response waits once it holds
/// <see cref="ReadAheadBytes"/>, so a download holds a few MB whatever its size. All statements share one statement-timeout
/// budget, so the timeout still bounds the whole download.
/// </summary>
internal sealed class RangedCopy
{
    /// <summary>Where a range's condition goes in <see cref="PreparedRowQuery.RangedSelectSql"/>.</summary>
    public const string RangePlaceholder = "{pages}";

    /// <summary>Bytes a session may read ahead of the response (in pieces of <see cref="CopyOutBuffer.Size"/>).</summary>
    private const int ReadAheadBytes = 2 << 20;

    private readonly PreparedRowQuery _prepared;
    private readonly string _snapshot;
    private readonly long _ranges;
    private readonly int _rangePages;
    private readonly int _streams;
    private readonly Stopwatch _elapsed = Stopwatch.StartNew();
    private Exception? _failure;

    private RangedCopy(PreparedRowQuery prepared, string snapshot, long ranges, int rangePages, int streams)
    {
        _prepared = prepared;
        _snapshot = snapshot;
        _ranges = ranges;
        _rangePages = rangePages;
        _streams = streams;
    }

    /// <summary>
    /// The plan for <paramref name="prepared"/> read in <paramref name="session"/> (REPEATABLE READ, nothing read yet), or null
    /// when the table is smaller than two ranges (one statement is then as quick).
    /// </summary>
    public static async Task<RangedCopy?> PlanAsync(ReadSession session, PreparedRowQuery prepared, ReadOptions options, CancellationToken cancellationToken)
    {
        // The table's size as of its last ANALYZE (every import ends with one): read from the catalog, so planning takes no
        // lock on the table (a download waiting for one waits in its COPY, where it can be seen and cancelled). A size that
        // is out of date costs speed, never rows: the last range has no end, and a range past the end is empty. The table
        // name comes from DataTables (a number), never from user text.
        await using var command = session.Command(
            $"SELECT pg_export_snapshot(), COALESCE((SELECT relpages FROM pg_class WHERE oid = to_regclass('{prepared.Table}')), 0)::bigint");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var snapshot = reader.GetString(0);
        var pages = reader.GetInt64(1);
        var ranges = (pages + options.DownloadRangePages - 1) / options.DownloadRangePages;
        if (ranges < 2) return null;
        return new RangedCopy(prepared, snapshot, ranges, options.DownloadRangePages, (int)Math.Min(options.DownloadStreams, ranges));
    }

    /// <summary>
    /// Appends every row to <paramref name="buffer"/> in table order: <paramref name="first"/> reads ranges itself, and
    /// <paramref name="open"/> opens the other sessions in the exported snapshot.
    /// </summary>
    public async Task CopyAsync(ReadSession first, Func<string, CancellationToken, Task<ReadSession>> open, string copyOptions, CopyOutBuffer buffer,
        CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var channels = new Channel<Piece>[_streams];
        var readers = new Task[_streams];
        for (var i = 0; i < _streams; i++)
        {
            channels[i] = Channel.CreateBounded<Piece>(new BoundedChannelOptions(ReadAheadBytes / CopyOutBuffer.Size)
                { SingleReader = true, SingleWriter = true });
            var stream = i;
            readers[i] = Task.Run(() => ReadRangesAsync(stream, stream == 0 ? first : null, open, copyOptions, channels[stream].Writer, stop), CancellationToken.None);
        }
        try
        {
            for (var range = 0L; range < _ranges; range++)
            {
                var stream = (int)(range % _streams);
                while (true)
                {
                    Piece piece;
                    try
                    {
                        piece = await channels[stream].Reader.ReadAsync(cancellationToken);
                    }
                    catch (ChannelClosedException)
                    {
                        // A session failed, and the others were stopped: the first failure says why (a PostgresException, a timeout).
                        if (Volatile.Read(ref _failure) is { } failure) ExceptionDispatchInfo.Throw(failure);
                        throw new InvalidOperationException($"Range {range} of the download ended early.");
                    }
                    try
                    {
                        await buffer.AppendAsync(piece.Bytes.AsMemory(0, piece.Length), cancellationToken);
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(piece.Bytes);
                    }
                    if (piece.EndOfRange) break;
                }
            }
        }
        finally
        {
            // Stops every session still reading (their statements are cancelled on the server) and waits for them, so no
            // session outlives the download and no piece is left unreturned.
            await stop.CancelAsync();
            try { await Task.WhenAll(readers); }
            catch (Exception) when (stop.IsCancellationRequested) { /* the failure that matters is the one already thrown */ }
            foreach (var channel in channels)
                while (channel.Reader.TryRead(out var left)) ArrayPool<byte>.Shared.Return(left.Bytes);
        }
    }

    private async Task ReadRangesAsync(int stream, ReadSession? own, Func<string, CancellationToken, Task<ReadSession>> open, string copyOptions,
        ChannelWriter<Piece> output, CancellationTokenSource stop)
    {
        var cancellationToken = stop.Token;
        try
        {
            var session = own ?? await open(_snapshot, cancellationToken);
            try
            {
                await using var cancelOnServer = session.CancelOnServerWhen(cancellationToken);
                for (var range = (long)stream; range < _ranges; range += _streams)
                    await ReadRangeAsync(session, range, copyOptions, output, cancellationToken);
            }
            finally
            {
                if (own is null) await session.DisposeAsync();
            }
            output.TryComplete();
        }
        catch (Exception e)
        {
            // The first failure is the one to report; the others' statements are stopped, since the response may be waiting
            // on one of them (e.g. a range still waiting for a lock) and would otherwise never see this failure.
            Interlocked.CompareExchange(ref _failure, e, null);
            output.TryComplete(e);
            try { await stop.CancelAsync(); }
            catch (ObjectDisposedException) { /* the download has ended */ }
            throw;
        }
    }

    private async Task ReadRangeAsync(ReadSession session, long range, string copyOptions, ChannelWriter<Piece> output, CancellationToken cancellationToken)
    {
        // What is left of the download's statement-timeout budget (at least 1 ms: 0 would mean none).
        var leftMs = Math.Max(1, session.TimeoutSeconds * 1000L - _elapsed.ElapsedMilliseconds);
        await using (var timeout = session.Command($"SET LOCAL statement_timeout = {leftMs}"))
            await timeout.ExecuteNonQueryAsync(cancellationToken);
        var from = range * _rangePages;
        var pages = range == _ranges - 1
            ? $"ctid >= '({from},0)'::tid"
            : $"ctid >= '({from},0)'::tid AND ctid < '({from + _rangePages},0)'::tid";
        using var copy = await session.Connection.BeginTextExportAsync(
            $"COPY ({_prepared.RangedSelectSql!.Replace(RangePlaceholder, pages, StringComparison.Ordinal)}) TO STDOUT ({copyOptions})", cancellationToken);
        var raw = (NpgsqlRawCopyStream)copy.BaseStream;
        raw.ReadTimeout = (session.TimeoutSeconds + 30) * 1000;
        var bytes = ArrayPool<byte>.Shared.Rent(CopyOutBuffer.Size);
        var length = 0;
        try
        {
            while (true)
            {
                // As in RowReader.CopyToAsync: one row per read, no token per read (the statement is cancelled on the server).
                var read = await raw.ReadAsync(bytes.AsMemory(length, CopyOutBuffer.Size - length), CancellationToken.None);
                if (read == 0) break;
                length += read;
                if (CopyOutBuffer.Size - length < CopyOutBuffer.MinimumRoom)
                {
                    await output.WriteAsync(new Piece(bytes, length, EndOfRange: false), cancellationToken);
                    bytes = ArrayPool<byte>.Shared.Rent(CopyOutBuffer.Size);
                    length = 0;
                }
            }
            await output.WriteAsync(new Piece(bytes, length, EndOfRange: true), cancellationToken);
            bytes = null;
        }
        finally
        {
            if (bytes is not null) ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    /// <summary>Bytes of one range in a pooled array; the last piece of a range says so.</summary>
    private readonly record struct Piece(byte[] Bytes, int Length, bool EndOfRange);
}
