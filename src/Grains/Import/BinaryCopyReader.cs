using System.Buffers.Binary;

namespace DatasetPlatform.Grains.Import;

/// <summary>
/// Reads the rows of a raw binary COPY TO STDOUT stream one at a time: each row as it is on the wire (its 16-bit field count,
/// then each field's 32-bit length, -1 for NULL, and bytes), without the header and trailer. A row is valid until the next call.
/// </summary>
internal sealed class BinaryCopyReader(Stream copy)
{
    // Signature (11 bytes), flags (4), header extension length (4), then the extension itself.
    private const int FixedHeaderBytes = 19;
    private byte[] _buffer = new byte[1 << 16];
    private int _filled, _at;
    private bool _headerRead, _ended;

    /// <summary>The next row, or null after the trailer.</summary>
    public async ValueTask<ReadOnlyMemory<byte>?> NextRowAsync(CancellationToken cancellationToken)
    {
        if (_ended) return null;
        if (!_headerRead)
        {
            await FillAsync(FixedHeaderBytes, cancellationToken);
            var header = FixedHeaderBytes + BinaryPrimitives.ReadInt32BigEndian(_buffer.AsSpan(_at + 15));
            await FillAsync(header, cancellationToken);
            _at += header;
            _headerRead = true;
        }
        await FillAsync(2, cancellationToken);
        var fields = BinaryPrimitives.ReadInt16BigEndian(_buffer.AsSpan(_at));
        if (fields == -1)
        {
            _ended = true;
            return null;
        }
        var length = 2;
        for (var i = 0; i < fields; i++)
        {
            await FillAsync(length + 4, cancellationToken);
            length += 4 + Math.Max(BinaryPrimitives.ReadInt32BigEndian(_buffer.AsSpan(_at + length)), 0);
        }
        await FillAsync(length, cancellationToken);
        var row = _buffer.AsMemory(_at, length);
        _at += length;
        return row;
    }

    /// <summary>Makes at least <paramref name="bytes"/> unread bytes available from <see cref="_at"/>, growing the buffer for a long row.</summary>
    private async ValueTask FillAsync(int bytes, CancellationToken cancellationToken)
    {
        if (_filled - _at >= bytes) return;
        // Keep the unread tail at the front of the buffer.
        _buffer.AsSpan(_at, _filled - _at).CopyTo(_buffer);
        _filled -= _at;
        _at = 0;
        if (bytes > _buffer.Length) Array.Resize(ref _buffer, Math.Max(bytes, _buffer.Length * 2));
        while (_filled < bytes)
        {
            var read = await copy.ReadAsync(_buffer.AsMemory(_filled), cancellationToken);
            if (read == 0) throw new InvalidDataException("The binary COPY ended before its trailer.");
            _filled += read;
        }
    }
}
