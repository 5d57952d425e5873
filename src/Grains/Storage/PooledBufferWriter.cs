using System.Buffers;

namespace DatasetPlatform.Grains.Storage;

/// <summary>
/// An <see cref="IBufferWriter{T}"/> of bytes over arrays rented from the shared pool while small (<see cref="SmallArrays{T}"/>),
/// given back when disposed. For the request-sized buffers of a small upload (a block's body, its records as JSON lines): growing
/// a new array each time put most of them on the large-object heap, whose budget then set off a full GC every few uploads.
/// </summary>
public sealed class PooledBufferWriter(int initialCapacity) : IBufferWriter<byte>, IDisposable
{
    private byte[] _buffer = SmallArrays<byte>.Rent(Math.Max(initialCapacity, 256));

    public int WrittenCount { get; private set; }

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, WrittenCount);

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, WrittenCount);

    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (WrittenCount + count > _buffer.Length) throw new InvalidOperationException("Advanced past the buffer.");
        WrittenCount += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _buffer.AsMemory(WrittenCount);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _buffer.AsSpan(WrittenCount);
    }

    public void Write(byte value)
    {
        Reserve(1);
        _buffer[WrittenCount++] = value;
    }

    /// <summary>The bytes written, as a read-only stream over the buffer (no copy); valid until this writer is disposed.</summary>
    public Stream OpenRead() => new MemoryStream(_buffer, 0, WrittenCount, writable: false);

    private void Reserve(int sizeHint)
    {
        var needed = Math.Max(sizeHint, 1);
        if (_buffer.Length - WrittenCount >= needed) return;
        var bigger = SmallArrays<byte>.Rent((int)Math.Min(Array.MaxLength, Math.Max((long)_buffer.Length * 2, (long)WrittenCount + needed)));
        _buffer.AsSpan(0, WrittenCount).CopyTo(bigger);
        SmallArrays<byte>.Return(_buffer);
        _buffer = bigger;
    }

    public void Dispose()
    {
        SmallArrays<byte>.Return(_buffer);
        _buffer = [];
        WrittenCount = 0;
    }
}
