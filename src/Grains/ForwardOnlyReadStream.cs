namespace DatasetPlatform.Grains;

/// <summary>
/// Base of the wrappers the data path reads once from start to end (staged chunks, decompression, a sniffed prefix, an
/// upload body): no seeking, no writing, no length. Subclasses implement only reading (and Position where they count).
/// </summary>
public abstract class ForwardOnlyReadStream : Stream
{
    public sealed override bool CanRead => true;
    public sealed override bool CanSeek => false;
    public sealed override bool CanWrite => false;
    public sealed override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public sealed override void Flush() { }
    public sealed override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public sealed override void SetLength(long value) => throw new NotSupportedException();
    public sealed override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
