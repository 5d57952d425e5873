using System.Buffers;
using System.Buffers.Binary;
using DatasetPlatform.Grains.Import;
using DatasetPlatform.Grains.Schema;

namespace DatasetPlatform.Grains.Storage;

/// <summary>
/// A CSV or TSV download read from PostgreSQL as binary COPY and formatted here, byte for byte as COPY ... (FORMAT csv)
/// would have sent it (<see cref="PgText"/> writes each value as the server's output function does, and the quoting below is
/// CopyAttributeOutCSV's). Turning doubles and dates into text is most of what a text COPY TO costs the server, and a COPY
/// runs on one core: in binary the server does about two thirds of the work, and the formatting runs on the service's core
/// at the same time (bench/ingest.sh's download phase).
/// </summary>
internal sealed class BinaryCsvCopy
{
    // Room one formatted field may take besides its text: the separator, the quotes.
    private const int FieldOverhead = 3;

    private readonly PgFieldKind[] _kinds;
    private readonly byte _delimiter;
    private readonly SearchValues<byte> _needsQuotes;
    // Per column: the decimals its last double needed (see PgText.WriteFloat8).
    private readonly int[] _decimalsHints;

    private BinaryCsvCopy(PgFieldKind[] kinds, byte delimiter)
    {
        _kinds = kinds;
        _delimiter = delimiter;
        _needsQuotes = SearchValues.Create([delimiter, (byte)'"', (byte)'\n', (byte)'\r']);
        _decimalsHints = new int[kinds.Length];
    }

    /// <summary>
    /// The copy for <paramref name="columns"/> projected as <see cref="RowReader"/> projects a CSV (booleans as text), or null
    /// when a column has a type this class does not format (the server's text COPY is used then).
    /// </summary>
    public static BinaryCsvCopy? For(IReadOnlyList<StoredColumn> columns, RowFormat format)
    {
        if (format is not (RowFormat.Csv or RowFormat.Tsv) || columns.Count == 0) return null;
        var kinds = new PgFieldKind[columns.Count];
        for (var i = 0; i < kinds.Length; i++)
        {
            PgFieldKind? kind = columns[i].SqlType switch
            {
                "text" or "boolean" => PgFieldKind.Text,
                "double precision" => PgFieldKind.Float8,
                "date" => PgFieldKind.Date,
                "timestamp" => PgFieldKind.Timestamp,
                "bigint" => PgFieldKind.Int64,
                "integer" => PgFieldKind.Int32,
                "smallint" => PgFieldKind.Int16,
                _ => null,
            };
            if (kind is null) return null;
            kinds[i] = kind.Value;
        }
        return new BinaryCsvCopy(kinds, format == RowFormat.Tsv ? (byte)'\t' : (byte)',');
    }

    /// <summary>Formats every row of the raw binary COPY stream <paramref name="copy"/> into <paramref name="buffer"/>.</summary>
    public async Task CopyAsync(Stream copy, CopyOutBuffer buffer, CancellationToken cancellationToken)
    {
        var rows = new BinaryCopyReader(copy);
        while (await rows.NextRowAsync(cancellationToken) is { } row)
        {
            var room = RoomFor(row.Span);
            if (buffer.Free.Length < room) await buffer.FlushAsync(cancellationToken);
            if (buffer.Free.Length >= room)
            {
                buffer.Commit(Format(row.Span, buffer.Free.Span));
                continue;
            }
            // A row larger than the whole buffer (long texts): formatted apart and sent as it is.
            var scratch = ArrayPool<byte>.Shared.Rent(room);
            try
            {
                var written = Format(row.Span, scratch);
                await buffer.AppendAsync(scratch.AsMemory(0, written), cancellationToken);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(scratch);
            }
        }
    }

    /// <summary>At most the bytes <see cref="Format"/> writes for <paramref name="row"/> (a text's quotes doubled at worst).</summary>
    private int RoomFor(ReadOnlySpan<byte> row)
    {
        var room = 1;
        var at = 2;
        for (var i = 0; i < _kinds.Length; i++)
        {
            var length = Math.Max(BinaryPrimitives.ReadInt32BigEndian(row[at..]), 0);
            at += 4 + length;
            room += FieldOverhead + (_kinds[i] == PgFieldKind.Text ? 2 * length : PgText.MaxFixedWidth);
        }
        return room;
    }

    private int Format(ReadOnlySpan<byte> row, Span<byte> destination)
    {
        if (BinaryPrimitives.ReadInt16BigEndian(row) != _kinds.Length)
            throw new InvalidDataException($"The binary COPY sent a row of {BinaryPrimitives.ReadInt16BigEndian(row)} fields, not {_kinds.Length}.");
        var written = 0;
        var at = 2;
        for (var i = 0; i < _kinds.Length; i++)
        {
            if (i > 0) destination[written++] = _delimiter;
            var length = BinaryPrimitives.ReadInt32BigEndian(row[at..]);
            at += 4;
            // NULL is nothing between the separators.
            if (length < 0) continue;
            var field = row.Slice(at, length);
            at += length;
            written += _kinds[i] == PgFieldKind.Text
                ? WriteText(field, destination[written..])
                : PgText.Write(_kinds[i], field, destination[written..], ref _decimalsHints[i]);
        }
        destination[written++] = (byte)'\n';
        return written;
    }

    /// <summary>
    /// CopyAttributeOutCSV: quoted when the text holds the delimiter, a quote or a line break, when it is empty (the empty
    /// string is not NULL), or when it is \. alone on a line (the end-of-data marker); quotes inside are doubled.
    /// </summary>
    private int WriteText(ReadOnlySpan<byte> text, Span<byte> destination)
    {
        if (text.IndexOfAny(_needsQuotes) < 0 && text.Length > 0 && !(_kinds.Length == 1 && text.SequenceEqual("\\."u8)))
        {
            text.CopyTo(destination);
            return text.Length;
        }
        var written = 0;
        destination[written++] = (byte)'"';
        while (true)
        {
            var quote = text.IndexOf((byte)'"');
            var piece = quote < 0 ? text : text[..(quote + 1)];
            piece.CopyTo(destination[written..]);
            written += piece.Length;
            if (quote < 0) break;
            destination[written++] = (byte)'"';
            text = text[(quote + 1)..];
        }
        destination[written++] = (byte)'"';
        return written;
    }
}
