using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Npgsql;

namespace DatasetPlatform.Grains.Import;

/// <summary>
/// A paired load (<see cref="PairedLoad"/>) written in segments: the encoded rows are cut, at row boundaries, into pieces of
/// about <see cref="CopyTarget.SegmentBytes"/>, and the connection takes them one after the other, each as the closes of the
/// live rows its rows change (one UPDATE by place) and then its own COPY statement, while the parse fills the next pieces.
/// One COPY open for the whole file would hold the connection, so the closes could only run after the parse; in segments the
/// database closes and writes beside the parse. At most <see cref="PendingSegments"/> pieces wait, so memory stays a few
/// segments whatever the file's size.
/// </summary>
internal static class SegmentedCopy
{
    private const int PendingSegments = 2;

    /// <summary>
    /// Runs <paramref name="produce"/> (which writes rows, unframed, into the writer it is given and flushes after whole rows)
    /// while the segments it fills are closed and copied into <paramref name="copySql"/> on <paramref name="connection"/>.
    /// </summary>
    public static async Task<T> RunAsync<T>(NpgsqlConnection connection, string copySql, string table, int version, PairedLoad pairedLoad,
        int segmentBytes, Func<PipeWriter, CancellationToken, Task<T>> produce, CancellationToken cancellationToken)
    {
        var segments = Channel.CreateBounded<Segment>(new BoundedChannelOptions(PendingSegments) { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var writer = new Writer(segments.Writer, pairedLoad, segmentBytes);
        var database = WriteAsync(segments.Reader, connection, copySql, table, version, pairedLoad, stop, cancellationToken);
        try
        {
            var result = await Task.Run(() => produce(writer, stop.Token), stop.Token);
            await writer.CompleteAsync();
            await database;
            return result;
        }
        catch (Exception e)
        {
            writer.Abandon(e);
            // The connection must be idle again before the caller rolls back.
            Exception? databaseFailure = null;
            try { await database; }
            catch (Exception failure) { databaseFailure = failure; }
            // A parse stopped because the database side failed (which cancels the segments' room) reports that failure.
            if (databaseFailure is not null && e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
                ExceptionDispatchInfo.Throw(databaseFailure);
            throw;
        }
    }

    /// <summary>Each segment in turn: the closes of the live rows its rows change, then its COPY.</summary>
    private static async Task WriteAsync(ChannelReader<Segment> segments, NpgsqlConnection connection, string copySql, string table, int version,
        PairedLoad pairedLoad, CancellationTokenSource stop, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var segment in segments.ReadAllAsync(cancellationToken))
            {
                try
                {
                    await pairedLoad.CloseAsync(connection, table, version, segment.Closes, cancellationToken);
                    await using var copy = await connection.BeginRawBinaryCopyAsync(copySql, cancellationToken);
                    try
                    {
                        await copy.WriteAsync(segment.Bytes.AsMemory(0, segment.Length), cancellationToken);
                    }
                    catch
                    {
                        await copy.CancelAsync();
                        throw;
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(segment.Bytes);
                }
            }
        }
        catch
        {
            // The parse waits on the segments' room: it stops rather than wait for a reader that is gone.
            await stop.CancelAsync();
            while (segments.TryRead(out var left)) ArrayPool<byte>.Shared.Return(left.Bytes);
            throw;
        }
    }

    /// <summary>A complete binary COPY stream (header, rows, trailer) and the places of the live rows those rows change.</summary>
    private readonly record struct Segment(byte[] Bytes, int Length, long[] Closes);

    /// <summary>
    /// The rows' sink: it frames each segment (header first, trailer at the cut) and cuts when a flush, which comes after whole
    /// rows, finds the segment full.
    /// </summary>
    private sealed class Writer : PipeWriter
    {
        private readonly ChannelWriter<Segment> _segments;
        private readonly PairedLoad _pairedLoad;
        private readonly int _segmentBytes;
        private byte[] _bytes;
        private int _length;

        public Writer(ChannelWriter<Segment> segments, PairedLoad pairedLoad, int segmentBytes)
        {
            _segments = segments;
            _pairedLoad = pairedLoad;
            _segmentBytes = segmentBytes;
            _bytes = NewSegment(segmentBytes, out _length);
        }

        private static byte[] NewSegment(int segmentBytes, out int length)
        {
            var bytes = ArrayPool<byte>.Shared.Rent(segmentBytes);
            CopyRowEncoder.Header.CopyTo(bytes);
            length = CopyRowEncoder.Header.Length;
            return bytes;
        }

        public override Memory<byte> GetMemory(int sizeHint = 0)
        {
            var needed = Math.Max(sizeHint, 1) + CopyRowEncoder.Trailer.Length;
            if (_bytes.Length - _length < needed)
            {
                // A row longer than the room left: the segment grows (rows are never split).
                var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_bytes.Length * 2, _length + needed));
                _bytes.AsSpan(0, _length).CopyTo(bigger);
                ArrayPool<byte>.Shared.Return(_bytes);
                _bytes = bigger;
            }
            return _bytes.AsMemory(_length, _bytes.Length - _length - CopyRowEncoder.Trailer.Length);
        }

        public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

        public override void Advance(int bytes) => _length += bytes;

        public override async ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            // Cut while the rows written until the next flush (the producer flushes every 64 KiB at most) still fit: a segment
            // stays in its one array of segmentBytes (the pool's arrays are powers of two: 1 MiB by default, not 2).
            if (_length >= _segmentBytes - Math.Min(1 << 16, _segmentBytes / 2)) await HandOverAsync(cancellationToken);
            return new FlushResult(isCanceled: false, isCompleted: false);
        }

        /// <summary>The last segment, then the end.</summary>
        public async Task CompleteAsync()
        {
            await HandOverAsync(CancellationToken.None, last: true);
            _segments.Complete();
        }

        /// <summary>No more segments: the parse failed.</summary>
        public void Abandon(Exception failure)
        {
            _segments.TryComplete(failure);
            if (_bytes.Length > 0) ArrayPool<byte>.Shared.Return(_bytes);
            _bytes = [];
        }

        private async Task HandOverAsync(CancellationToken cancellationToken, bool last = false)
        {
            CopyRowEncoder.Trailer.CopyTo(_bytes.AsSpan(_length));
            var segment = new Segment(_bytes, _length + CopyRowEncoder.Trailer.Length, _pairedLoad.TakeRecorded());
            _bytes = last ? [] : NewSegment(_segmentBytes, out _length);
            await _segments.WriteAsync(segment, cancellationToken);
        }

        public override void Complete(Exception? exception = null) => throw new NotSupportedException("CompleteAsync or Abandon.");

        public override void CancelPendingFlush() { }
    }
}
