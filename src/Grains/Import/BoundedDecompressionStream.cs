using DatasetPlatform.Grains.Abstractions;

namespace DatasetPlatform.Grains.Import;

/// <summary>
/// Reads a decompressing stream and fails the import as soon as the output passes <see cref="ImportLimits.MaxDecompressedBytes"/>
/// or grows more than <see cref="ImportLimits.MaxExpansionRatio"/> times the compressed bytes consumed so far: a bomb stops
/// after a few megabytes of work, not after gigabytes. Corrupt or truncated compressed data fails the import too, with its reason.
/// </summary>
internal sealed class BoundedDecompressionStream(Stream decompressor, Func<long> compressedBytesRead, ImportLimits limits, string format) : ForwardOnlyReadStream
{
    private long _total;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int read;
        try { read = decompressor.Read(buffer); }
        catch (InvalidDataException e) { throw Corrupt(e); }
        return Check(read);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read;
        try { read = await decompressor.ReadAsync(buffer, cancellationToken); }
        catch (InvalidDataException e) { throw Corrupt(e); }
        return Check(read);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private int Check(int read)
    {
        _total += read;
        if (_total > limits.MaxDecompressedBytes)
            throw new ImportFailure(JobStatus.Failed,
                $"The {format} file is larger than {limits.MaxDecompressedBytes} bytes once decompressed (the limit MAX_DECOMPRESSED_BYTES); nothing was loaded.");
        var compressed = Math.Max(1, compressedBytesRead());
        if (_total > ImportLimits.ExpansionRatioGraceBytes && _total / compressed > limits.MaxExpansionRatio)
            throw new ImportFailure(JobStatus.Failed,
                $"The {format} file expands more than {limits.MaxExpansionRatio} times when decompressed ({compressed} compressed bytes gave {_total} bytes; " +
                "the limit MAX_EXPANSION_RATIO); it looks like a decompression bomb, and nothing was loaded.");
        return read;
    }

    private ImportFailure Corrupt(InvalidDataException e) =>
        new(JobStatus.Failed, $"The {format} data is corrupt or truncated after {_total} decompressed bytes: {e.Message}");

    protected override void Dispose(bool disposing)
    {
        if (disposing) decompressor.Dispose();
        base.Dispose(disposing);
    }

    public override long Position { get => _total; set => throw new NotSupportedException(); }
}
