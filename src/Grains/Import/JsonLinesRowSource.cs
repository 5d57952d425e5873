using System.Text;
using System.Text.Json;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Grains.Storage;

namespace DatasetPlatform.Grains.Import;

/// <summary>
/// JSON lines: one object per line, keyed by column name (matched like CSV headers). Values are read as text
/// (numbers and booleans by their JSON spelling, nested values as raw JSON) so one encoder serves both formats.
/// A line is bounded (<see cref="ImportLimits.MaxRecordChars"/>) before it is buffered, a value by <see cref="ImportLimits.MaxFieldChars"/>.
/// </summary>
internal sealed class JsonLinesRowSource(TextReader text, IReadOnlyList<string> columns, bool strictFields, ImportLimits limits) : IRowSource
{
    /// <summary>Field names as the records spell them, up to this many, are matched to their column once per file.</summary>
    private const int MaxRememberedNames = 4096;

    /// <summary>Strict: the line was decoded from valid text, so a char that cannot be encoded is a bug, not data to replace.</summary>
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly Dictionary<string, int> _index = columns.Select((c, i) => (Key: ColumnNames.Key(c), i))
        .GroupBy(p => p.Key).ToDictionary(g => g.Key, g => g.First().i);
    /// <summary>
    /// A field name as written -> its column, -1 for none. Matching normalizes the name (<see cref="ColumnNames.Key"/>: Unicode
    /// decomposition, a builder, two strings), which per field of every record was a large share of a small JSON-lines import.
    /// </summary>
    private readonly Dictionary<string, int> _byName = new(StringComparer.Ordinal);
    private readonly int[] _starts = new int[columns.Count];
    private readonly int[] _lengths = new int[columns.Count];
    /// <summary>The current record's values, one after the other; no string per value.</summary>
    private char[] _chars = new char[1024];
    private byte[] _utf8 = new byte[1024];
    private char[] _name = new char[128];
    private readonly BoundedLineReader _lines = new(text, limits.MaxRecordChars);
    private long _record;

    public IReadOnlyList<string> Columns { get; } = columns;
    public RowError? RecordError { get; private set; }

    public async ValueTask<bool> ReadAsync()
    {
        ReadOnlyMemory<char> line;
        try
        {
            do
            {
                if (await _lines.ReadLineAsync() is not { } next) return false;
                line = next;
            } while (line.Span.IsWhiteSpace());
        }
        catch (DecoderFallbackException e)
        {
            throw EncodingErrors.NotUtf8(e, $"line {_lines.LineNumber + 1}");
        }
        _record++;
        Array.Clear(_lengths);
        RecordError = null;
        try
        {
            Parse(line.Span);
        }
        catch (JsonException e)
        {
            // The reader's own message, as JsonDocument.Parse gave it: it says where in the line.
            RecordError = new RowError(_record, null, $"invalid JSON: {e.Message}");
        }
        return true;
    }

    public ReadOnlySpan<char> GetField(int index) => _chars.AsSpan(_starts[index], _lengths[index]);

    /// <summary>
    /// Reads one line's object with <see cref="Utf8JsonReader"/> into <see cref="_chars"/>: strings unescaped, other values by their
    /// JSON text. The whole line is read even when the record is already refused, so invalid JSON is reported as such.
    /// </summary>
    private void Parse(ReadOnlySpan<char> line)
    {
        var bytes = Utf8Of(line);
        // Every value is a part of the line at most as long (unescaping only shortens), so the line's length holds them all.
        if (_chars.Length < line.Length) _chars = new char[Math.Max(line.Length, _chars.Length * 2)];
        var used = 0;
        var reader = new Utf8JsonReader(bytes, isFinalBlock: true, state: default);
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            reader.Read(); // what follows the value must be nothing but whitespace (throws otherwise)
            RecordError = new RowError(_record, null, "the line is not a JSON object");
            return;
        }
        var fields = 0;
        var tooMany = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (tooMany || ++fields > DatasetLimits.MaxColumns)
            {
                if (!tooMany) RecordError = new RowError(_record, null, $"the record has more than {DatasetLimits.MaxColumns} fields, the most columns a dataset can have");
                tooMany = true;
                reader.Skip();
                continue;
            }
            var name = NameOf(ref reader);
            var column = ColumnOf(name);
            if (column < 0)
            {
                if (strictFields && RecordError is null) RecordError = new RowError(_record, name.ToString(), $"unknown field '{name}'");
                reader.Skip();
                continue;
            }
            reader.Read();
            var length = ValueInto(ref reader, bytes, _chars.AsSpan(used));
            if (length > limits.MaxFieldChars && RecordError is null)
                RecordError = new RowError(_record, name.ToString(), $"the value is {length} characters long; the limit is {limits.MaxFieldChars} (MAX_FIELD_CHARS)");
            _starts[column] = used;
            _lengths[column] = length;
            used += length;
        }
        reader.Read(); // as above: nothing may follow the object
    }

    private ReadOnlySpan<byte> Utf8Of(ReadOnlySpan<char> line)
    {
        var count = Utf8.GetByteCount(line);
        if (_utf8.Length < count) _utf8 = new byte[Math.Max(count, _utf8.Length * 2)];
        return _utf8.AsSpan(0, Utf8.GetBytes(line, _utf8));
    }

    /// <summary>The property name the reader is on, unescaped, in <see cref="_name"/> (valid until the next name).</summary>
    private ReadOnlySpan<char> NameOf(ref Utf8JsonReader reader)
    {
        if (_name.Length < reader.ValueSpan.Length) _name = new char[reader.ValueSpan.Length];
        return _name.AsSpan(0, reader.CopyString(_name));
    }

    private int ColumnOf(ReadOnlySpan<char> name)
    {
        var remembered = _byName.GetAlternateLookup<ReadOnlySpan<char>>();
        if (remembered.TryGetValue(name, out var column)) return column;
        var text = name.ToString();
        column = _index.TryGetValue(ColumnNames.Key(text), out var i) ? i : -1;
        if (_byName.Count < MaxRememberedNames) _byName[text] = column;
        return column;
    }

    /// <summary>Writes the value the reader is on into <paramref name="destination"/>; its length (0 for null).</summary>
    private static int ValueInto(ref Utf8JsonReader reader, ReadOnlySpan<byte> line, Span<char> destination)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                return reader.CopyString(destination);
            case JsonTokenType.Null:
                return 0;
            case JsonTokenType.StartObject or JsonTokenType.StartArray:
                // Nested: its raw JSON, as JsonElement.GetRawText gave it.
                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                return Utf8.GetChars(line[start..(int)reader.BytesConsumed], destination);
            default:
                // Numbers, true, false: their JSON spelling (never escaped).
                return Utf8.GetChars(reader.ValueSpan, destination);
        }
    }

    public void Dispose()
    {
        _lines.Dispose();
        text.Dispose();
    }
}

/// <summary>
/// Reads lines without ever holding more than <c>maxChars</c> of one: a longer line fails the import when that much has
/// been read, so one endless line costs a bounded buffer, not the whole file in memory.
/// </summary>
internal sealed class BoundedLineReader(TextReader text, int maxChars) : IDisposable
{
    /// <summary>Rented: a new 128 KB buffer per import went to the large-object heap (many small uploads: a full GC every few).</summary>
    private char[] _buffer = SmallArrays<char>.Rent(Math.Min(1 << 16, maxChars + 1));
    private int _start, _end;
    private bool _eof;

    /// <summary>What the buffer may hold: a rented array can be longer than asked, and a line must not fit past the limit.</summary>
    private int Capacity => (int)Math.Min(_buffer.Length, maxChars + 1L);

    /// <summary>1-based number of the line last returned.</summary>
    public long LineNumber { get; private set; }

    public async ValueTask<ReadOnlyMemory<char>?> ReadLineAsync()
    {
        var scanned = _start;
        while (true)
        {
            var newline = Array.IndexOf(_buffer, '\n', scanned, _end - scanned);
            if (newline >= 0)
            {
                LineNumber++;
                var line = _buffer.AsMemory(_start, newline - _start);
                _start = newline + 1;
                return line.Span.EndsWith("\r") ? line[..^1] : line;
            }
            if (_end - _start > maxChars)
                throw new ImportFailure(Abstractions.JobStatus.Failed,
                    $"Line {LineNumber + 1} is longer than {maxChars} characters (the limit MAX_RECORD_CHARS); nothing was loaded.");
            if (_eof)
            {
                if (_start == _end) return null;
                LineNumber++;
                var last = _buffer.AsMemory(_start, _end - _start);
                _start = _end;
                return last;
            }
            scanned = _end;
            if (_start > 0)
            {
                // Keep the partial line at the front of the buffer, and grow it only when the line itself needs it.
                Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
                scanned -= _start;
                _end -= _start;
                _start = 0;
            }
            if (_end == Capacity)
            {
                var bigger = SmallArrays<char>.Rent((int)Math.Min((long)Capacity * 2, maxChars + 1L));
                _buffer.AsSpan(0, _end).CopyTo(bigger);
                SmallArrays<char>.Return(_buffer);
                _buffer = bigger;
            }
            var read = await text.ReadAsync(_buffer.AsMemory(_end, Capacity - _end));
            if (read == 0) _eof = true;
            _end += read;
        }
    }

    public void Dispose()
    {
        SmallArrays<char>.Return(_buffer);
        _buffer = [];
        _start = _end = 0;
    }
}
