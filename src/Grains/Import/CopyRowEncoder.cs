using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace DatasetPlatform.Grains.Import;

/// <summary>
/// Encodes rows in PostgreSQL's binary COPY format into a reusable row buffer. Encoding straight from parsed
/// spans (instead of one NpgsqlBinaryImporter.Write call per value) keeps per-value overhead to a few
/// byte writes; that is what lets one parse thread keep the COPY backend busy. A row is built completely
/// before it is handed on, so a row that fails validation can be dropped without touching the stream.
/// </summary>
internal sealed class CopyRowEncoder
{
    // PostgreSQL epoch for date and timestamp values.
    private static readonly int PostgresEpochDay = new DateOnly(2000, 1, 1).DayNumber;
    private static readonly long PostgresEpochTicks = new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;

    // Signature "PGCOPY\n\xff\r\n\0", then 32-bit flags (0) and header-extension length (0).
    public static ReadOnlySpan<byte> Header => [(byte)'P', (byte)'G', (byte)'C', (byte)'O', (byte)'P', (byte)'Y', (byte)'\n', 0xFF, (byte)'\r', (byte)'\n', 0, 0, 0, 0, 0, 0, 0, 0, 0];
    public static ReadOnlySpan<byte> Trailer => [0xFF, 0xFF];

    private byte[] _row = new byte[1024];
    private int _length;

    public ReadOnlySpan<byte> Row => _row.AsSpan(0, _length);

    /// <summary>Bytes encoded so far in the current row.</summary>
    public int Length => _length;

    public void BeginRow(short fieldCount)
    {
        _length = 0;
        BinaryPrimitives.WriteInt16BigEndian(Reserve(2), fieldCount);
    }

    /// <summary>
    /// Writes whole encoded rows to <paramref name="output"/>, each with a NULL field inserted after its first one: rows for a
    /// dataset's table encoded without <c>_vt</c> (after <c>_vf</c>, an int) become rows for a COPY that lists it.
    /// </summary>
    public static void WriteWithNullSecondField(ReadOnlySpan<byte> rows, IBufferWriter<byte> output)
    {
        while (!rows.IsEmpty)
        {
            var fields = BinaryPrimitives.ReadInt16BigEndian(rows);
            var length = 2;
            for (var i = 0; i < fields; i++) length += 4 + Math.Max(BinaryPrimitives.ReadInt32BigEndian(rows[length..]), 0);
            var firstEnd = 6 + Math.Max(BinaryPrimitives.ReadInt32BigEndian(rows[2..]), 0);
            var span = output.GetSpan(length + 4);
            BinaryPrimitives.WriteInt16BigEndian(span, (short)(fields + 1));
            rows[2..firstEnd].CopyTo(span[2..]);
            BinaryPrimitives.WriteInt32BigEndian(span[firstEnd..], -1);
            rows[firstEnd..length].CopyTo(span[(firstEnd + 4)..]);
            output.Advance(length + 4);
            rows = rows[length..];
        }
    }

    public void WriteNull() => BinaryPrimitives.WriteInt32BigEndian(Reserve(4), -1);

    public void WriteInt16(short value)
    {
        var span = Reserve(6);
        BinaryPrimitives.WriteInt32BigEndian(span, 2);
        BinaryPrimitives.WriteInt16BigEndian(span[4..], value);
    }

    public void WriteInt32(int value)
    {
        var span = Reserve(8);
        BinaryPrimitives.WriteInt32BigEndian(span, 4);
        BinaryPrimitives.WriteInt32BigEndian(span[4..], value);
    }

    public void WriteInt64(long value)
    {
        var span = Reserve(12);
        BinaryPrimitives.WriteInt32BigEndian(span, 8);
        BinaryPrimitives.WriteInt64BigEndian(span[4..], value);
    }

    public void WriteDouble(double value)
    {
        var span = Reserve(12);
        BinaryPrimitives.WriteInt32BigEndian(span, 8);
        BinaryPrimitives.WriteDoubleBigEndian(span[4..], value);
    }

    public void WriteBoolean(bool value)
    {
        var span = Reserve(5);
        BinaryPrimitives.WriteInt32BigEndian(span, 1);
        span[4] = value ? (byte)1 : (byte)0;
    }

    /// <summary>A uuid: 16 bytes, big-endian, so the value reads back as written (<see cref="LiveRowHashes"/>).</summary>
    public void WriteUuid(UInt128 value)
    {
        var span = Reserve(20);
        BinaryPrimitives.WriteInt32BigEndian(span, 16);
        BinaryPrimitives.WriteUInt128BigEndian(span[4..], value);
    }

    /// <summary>A tid (a row's place: block &lt;&lt; 16 | offset, <see cref="LiveRowHashes"/>): 32-bit block, 16-bit offset.</summary>
    public void WriteTid(long place)
    {
        var span = Reserve(10);
        BinaryPrimitives.WriteInt32BigEndian(span, 6);
        BinaryPrimitives.WriteUInt32BigEndian(span[4..], (uint)(place >> 16));
        BinaryPrimitives.WriteUInt16BigEndian(span[8..], (ushort)place);
    }

    /// <summary>Bytes already encoded as fields (length prefixes included), e.g. a key copied from another row.</summary>
    public void WriteEncoded(ReadOnlySpan<byte> fields) => fields.CopyTo(Reserve(fields.Length));

    public void WriteDate(DateTime value) => WriteInt32(DateOnly.FromDateTime(value).DayNumber - PostgresEpochDay);

    public void WriteTimestamp(DateTime value) => WriteInt64((value.Ticks - PostgresEpochTicks) / TimeSpan.TicksPerMicrosecond);

    public void WriteText(ReadOnlySpan<char> value)
    {
        var span = Reserve(4 + Encoding.UTF8.GetMaxByteCount(value.Length));
        var written = Encoding.UTF8.GetBytes(value, span[4..]);
        BinaryPrimitives.WriteInt32BigEndian(span, written);
        _length -= span.Length - 4 - written; // give back what the worst-case reservation did not use
    }

    private Span<byte> Reserve(int count)
    {
        if (_length + count > _row.Length) Array.Resize(ref _row, Math.Max(_row.Length * 2, _length + count));
        var span = _row.AsSpan(_length, count);
        _length += count;
        return span;
    }
}
