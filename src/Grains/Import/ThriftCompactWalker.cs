namespace DatasetPlatform.Grains.Import;

/// <summary>Thrift metadata whose structure contradicts its own length claims.</summary>
internal sealed class ThriftStructureException(string message) : Exception(message);

/// <summary>
/// Walks a Thrift compact-protocol struct (Parquet's footer and page headers) without building anything, checking each
/// claimed length (lists, maps, binaries) against the bytes that remain and bounding nesting, so that the Parquet reader
/// that parses it next cannot be made to allocate by a claim or to recurse without end. Integer fields of the top two levels
/// are reported to a callback as (parent field id, field id, value), the parent being 0 at the top.
/// </summary>
internal sealed class ThriftCompactWalker(byte[] data, int start, int end)
{
    private const int MaxDepth = 32;
    private readonly int _start = start;
    private int _position = start;

    /// <summary>Where the walk stopped: just past the struct it read.</summary>
    public int Position => _position;

    public void WalkStruct(Action<short, short, long>? onInteger) => WalkStruct(0, 0, onInteger);

    private void WalkStruct(int depth, short parent, Action<short, short, long>? onInteger)
    {
        if (depth > MaxDepth) throw new ThriftStructureException($"structs nested more than {MaxDepth} deep");
        short last = 0;
        while (true)
        {
            var header = NextByte();
            if (header == 0) return;
            var delta = header >> 4;
            var field = delta == 0 ? (short)Zigzag(ReadVarint()) : (short)(last + delta);
            last = field;
            var type = header & 0x0F;
            if (type is 1 or 2) continue; // a boolean lives in the field header
            WalkValue(type, depth, parent, field, onInteger);
        }
    }

    private void WalkValue(int type, int depth, short parent, short field, Action<short, short, long>? onInteger)
    {
        switch (type)
        {
            case 1 or 2 or 3: Skip(1); break;
            case 4 or 5 or 6:
                var value = Zigzag(ReadVarint());
                if (depth <= 1) onInteger?.Invoke(parent, field, value);
                break;
            case 7: Skip(8); break;
            case 8: Skip(Length()); break;
            case 9 or 10:
            {
                var header = NextByte();
                long size = header >> 4;
                if (size == 15) size = ReadVarint();
                Claim(size, "list");
                for (long i = 0; i < size; i++) WalkValue(header & 0x0F, depth + 1, 0, 0, null);
                break;
            }
            case 11:
            {
                var size = ReadVarint();
                if (size == 0) break;
                var types = NextByte();
                Claim(size * 2, "map");
                for (long i = 0; i < size; i++)
                {
                    WalkValue(types >> 4, depth + 1, 0, 0, null);
                    WalkValue(types & 0x0F, depth + 1, 0, 0, null);
                }
                break;
            }
            case 12: WalkStruct(depth + 1, field, depth == 0 ? onInteger : null); break;
            default: throw new ThriftStructureException($"unknown type {type} at byte {_position - _start}");
        }
    }

    private int Length()
    {
        var length = ReadVarint();
        Claim(length, "binary");
        return (int)length;
    }

    /// <summary>Every element takes at least one byte, so a count larger than what remains is a lie.</summary>
    private void Claim(long count, string what)
    {
        if (count < 0 || count > end - _position)
            throw new ThriftStructureException($"a {what} claims {count} elements with only {end - _position} bytes left");
    }

    private void Skip(int bytes)
    {
        if (bytes > end - _position) throw new ThriftStructureException("it ends in the middle of a value");
        _position += bytes;
    }

    private int NextByte()
    {
        if (_position >= end) throw new ThriftStructureException("it ends in the middle of a struct");
        return data[_position++];
    }

    private long ReadVarint()
    {
        ulong result = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            var b = NextByte();
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return (long)result;
        }
        throw new ThriftStructureException("a number is longer than 10 bytes");
    }

    private static long Zigzag(long n) => (long)((ulong)n >> 1) ^ -(n & 1);
}
