using System.IO.Compression;

namespace DatasetPlatform.Grains.Import;

/// <summary>
/// Opens an uploaded file's bytes: gzip is recognised by its magic bytes, whatever the file is called, and decompressed
/// within <see cref="ImportLimits"/>; a zip archive is refused (no upload door accepts zip).
/// </summary>
internal static class UploadDecoder
{
    /// <param name="parquetExpected">The upload is meant to be Parquet; otherwise Parquet bytes are refused here rather than parsed as text.</param>
    public static async Task<Stream> DecompressIfNeededAsync(Stream raw, ImportLimits limits, bool parquetExpected, CancellationToken cancellationToken)
    {
        var prefix = new byte[4];
        var read = 0;
        while (read < prefix.Length)
        {
            var n = await raw.ReadAsync(prefix.AsMemory(read), cancellationToken);
            if (n == 0) break;
            read += n;
        }
        var sniffed = prefix.AsSpan(0, read);
        if (sniffed.StartsWith("PK\x03\x04"u8) || sniffed.StartsWith("PK\x05\x06"u8))
            throw new ImportFailure(Abstractions.JobStatus.Failed,
                "The file is a zip archive, which is not accepted: upload CSV, JSON lines or Parquet, optionally gzip-compressed (.gz).");
        if (!parquetExpected && sniffed.StartsWith("PAR1"u8))
            throw new ImportFailure(Abstractions.JobStatus.Failed,
                "The file is Parquet, which this upload does not read: send CSV or JSON lines here, or a .parquet file to POST /api/datasets/upload.");
        // Text (CSV, JSON) never starts with NUL bytes; UTF-16 without a byte order mark does, every other byte.
        if (read == 4 && ((sniffed[1] == 0 && sniffed[3] == 0 && sniffed[0] != 0) || (sniffed[0] == 0 && sniffed[2] == 0 && sniffed[1] != 0)))
            throw new ImportFailure(Abstractions.JobStatus.Failed,
                "The file looks like UTF-16 text without a byte order mark: save it as UTF-8 (or as UTF-16 with a byte order mark).");
        Stream stream = new PrefixedStream(prefix.AsMemory(0, read), raw);
        if (!sniffed.StartsWith((ReadOnlySpan<byte>)[0x1F, 0x8B])) return stream;
        long consumed = 0;
        var counted = new CountingStream(stream, bytes => consumed = bytes);
        return new BoundedDecompressionStream(new GZipStream(counted, CompressionMode.Decompress), () => consumed, limits, "gzip");
    }

    /// <summary>Replays bytes already read (the sniffed prefix) before the rest of the stream.</summary>
    private sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream inner) : ForwardOnlyReadStream
    {
        private ReadOnlyMemory<byte> _prefix = prefix;

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_prefix.IsEmpty) return inner.Read(buffer);
            var n = Math.Min(buffer.Length, _prefix.Length);
            _prefix.Span[..n].CopyTo(buffer);
            _prefix = _prefix[n..];
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_prefix.IsEmpty) return inner.ReadAsync(buffer, cancellationToken);
            return ValueTask.FromResult(Read(buffer.Span));
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }

    }
}

/// <summary>Counts bytes read through it, for progress reporting.</summary>
internal sealed class CountingStream(Stream inner, Action<long> onRead) : ForwardOnlyReadStream
{
    private long _total;

    public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));
    public override int Read(Span<byte> buffer) => Count(inner.Read(buffer));
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Count(await inner.ReadAsync(buffer, cancellationToken));
    public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Count(await inner.ReadAsync(buffer.AsMemory(offset, count), cancellationToken));

    private int Count(int read)
    {
        _total += read;
        onRead(_total);
        return read;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }

    public override long Position { get => _total; set => throw new NotSupportedException(); }
}
