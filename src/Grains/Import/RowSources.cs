using System.IO.Compression;
using System.Text;
using System.Text.Json;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Grains.Storage;
using Sylvan.Data.Csv;

namespace DatasetPlatform.Grains.Import;

/// <summary>A forward-only source of rows whose fields are read as text spans (no per-field strings).</summary>
internal interface IRowSource : IDisposable
{
    IReadOnlyList<string> Columns { get; }
    ValueTask<bool> ReadAsync();
    /// <summary>The field's text; empty when the row is shorter than the header.</summary>
    ReadOnlySpan<char> GetField(int index);
    /// <summary>Set when the current record as a whole is unusable (not JSON, an unknown field under a strict schema).</summary>
    RowError? RecordError { get; }
}

/// <summary>Tells CSV from JSON lines by the first character of the text, whatever the file is called.</summary>
internal static class RowSourceFactory
{
    /// <summary>
    /// The bytes a text decoder reads at a time. Its char buffer is as long again in chars (twice the bytes): at 64 KB that was a
    /// 128 KB array per import on the large-object heap, whose budget then set off a full GC every few small uploads; at 32 KB
    /// both stay on the small-object heap. The parsers read into buffers of their own, which the decoder fills directly.
    /// </summary>
    internal const int ReaderBufferBytes = 1 << 15;

    /// <param name="schemaColumns">For JSON lines: the fields records may carry (all others are unknown).</param>
    /// <param name="strictFields">For JSON lines: an unknown field rejects its record instead of being ignored.</param>
    public static async Task<IRowSource?> OpenAsync(Stream stream, IReadOnlyList<string> schemaColumns, bool strictFields, ImportLimits limits,
        CancellationToken cancellationToken)
    {
        // A byte that is not UTF-8 is decoded as a marker the field encoder refuses with its row and column, instead of loading
        // as U+FFFD (the decoder reads ahead by 32 KB, so an exception could not say where). A BOM may say UTF-16.
        var text = new StreamReader(stream, EncodingErrors.MarkingUtf8, detectEncodingFromByteOrderMarks: true, bufferSize: ReaderBufferBytes);
        var first = new char[1];
        while (true)
        {
            if (await text.ReadAsync(first, cancellationToken) == 0)
            {
                text.Dispose();
                return null; // no bytes at all (or only whitespace): the file is empty
            }
            if (!char.IsWhiteSpace(first[0])) break;
        }
        var replay = new PrefixedTextReader(first[0], text);
        return first[0] == '{'
            ? new JsonLinesRowSource(replay, schemaColumns, strictFields, limits)
            : await CsvRowSource.OpenAsync(replay, dialect: null, limits, reportEncodingErrors: true, cancellationToken);
    }
}

/// <summary>Puts back the one character read to sniff the format.</summary>
internal sealed class PrefixedTextReader(char first, TextReader inner) : TextReader
{
    private bool _pending = true;

    public override int Peek() => _pending ? first : inner.Peek();

    public override int Read()
    {
        if (!_pending) return inner.Read();
        _pending = false;
        return first;
    }

    /// <summary>
    /// The first read gives the character put back and fills the rest of the buffer (up to the end of the text): the CSV parser
    /// detects the delimiter from its first read, which held the character alone, or the few bytes the decompression check had
    /// peeked, so it saw no delimiter and took the comma (a ';', tab or '|' separated upload was read as one column).
    /// </summary>
    public override int Read(Span<char> buffer)
    {
        if (!_pending || buffer.IsEmpty) return inner.Read(buffer);
        _pending = false;
        buffer[0] = first;
        return 1 + (buffer.Length > 1 ? inner.ReadBlock(buffer[1..]) : 0);
    }

    public override int Read(char[] buffer, int index, int count) => Read(buffer.AsSpan(index, count));

    public override async ValueTask<int> ReadAsync(Memory<char> buffer, CancellationToken cancellationToken = default)
    {
        if (!_pending || buffer.IsEmpty) return await inner.ReadAsync(buffer, cancellationToken);
        _pending = false;
        buffer.Span[0] = first;
        return 1 + (buffer.Length > 1 ? await inner.ReadBlockAsync(buffer[1..], cancellationToken) : 0);
    }

    public override Task<int> ReadAsync(char[] buffer, int index, int count) => ReadAsync(buffer.AsMemory(index, count)).AsTask();

    public override Task<string?> ReadLineAsync() => ReadLineAsync(CancellationToken.None).AsTask();

    public override ValueTask<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        if (!_pending) return inner.ReadLineAsync(cancellationToken);
        _pending = false;
        if (first == '\n') return ValueTask.FromResult<string?>("");
        return Continue();

        async ValueTask<string?> Continue() => first + (await inner.ReadLineAsync(cancellationToken) ?? "");
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}

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

/// <summary>How bytes that are not valid in the file's encoding are reported.</summary>
internal static class EncodingErrors
{
    /// <summary>What <see cref="MarkingUtf8"/> decodes an invalid byte sequence to: a noncharacter, which no real text holds.</summary>
    public const char InvalidByteMarker = '\uFFFF';

    /// <summary>UTF-8 that decodes invalid bytes to <see cref="InvalidByteMarker"/>, so the value holding them can be named.</summary>
    public static Encoding MarkingUtf8 { get; } =
        Encoding.GetEncoding("utf-8", EncoderFallback.ExceptionFallback, new DecoderReplacementFallback(InvalidByteMarker.ToString()));

    public const string InvalidByteMessage = "the value holds bytes that are not UTF-8 text (save the file as UTF-8; Latin-1 and other single-byte encodings are read only by the versioned-datasets upload)";

    public static ImportFailure NotUtf8(DecoderFallbackException e, string where)
    {
        var bytes = e.BytesUnknown is { Length: > 0 } unknown ? $" (byte {string.Join(" ", unknown.Select(b => $"0x{b:X2}"))})" : "";
        return new ImportFailure(Abstractions.JobStatus.Failed,
            $"The file is not valid UTF-8 text{bytes} near {where}; save it as UTF-8 (Latin-1 and other single-byte encodings are read only by the versioned-datasets upload).");
    }
}

/// <summary>
/// CSV with a header row, delimiter detected by Sylvan (comma, tab, semicolon, pipe). The parser's buffer is capped at
/// <see cref="ImportLimits.MaxRecordChars"/>, so no record (header included) is buffered beyond it; the header's width and
/// length are checked as soon as it is read, before anything grows with the number of columns.
/// </summary>
internal sealed class CsvRowSource : IRowSource
{
    private readonly CsvDataReader _reader;
    private readonly TextReader _text;
    private readonly ImportLimits _limits;
    private readonly bool _reportEncodingErrors;
    private long _row;

    /// <summary>The parser's buffer when rented (<see cref="RentBuffer"/>); returned when the source is disposed.</summary>
    private char[]? _rented;

    private CsvRowSource(TextReader text, CsvDataReader reader, IReadOnlyList<string> columns, ImportLimits limits, bool reportEncodingErrors, char[]? rented)
    {
        _rented = rented;
        _text = text;
        _reader = reader;
        _limits = limits;
        _reportEncodingErrors = reportEncodingErrors;
        Columns = columns;
    }

    public IReadOnlyList<string> Columns { get; }

    public RowError? RecordError { get; private set; }

    /// <param name="dialect">A sniffed dialect (delimiter, header or not); null lets Sylvan detect the delimiter of a file with a header.</param>
    /// <param name="reportEncodingErrors">Turn a byte the text encoding cannot read into the import's failure; false lets the
    /// caller catch <see cref="DecoderFallbackException"/> and read the file again in another encoding.</param>
    public static async Task<CsvRowSource?> OpenAsync(TextReader text, CsvDialect? dialect, ImportLimits limits, bool reportEncodingErrors,
        CancellationToken cancellationToken)
    {
        var rented = RentBuffer(limits);
        var options = new CsvDataReaderOptions
        {
            HasHeaders = dialect?.HasHeader ?? true,
            BufferSize = Math.Min(BufferChars, limits.MaxRecordChars),
            MaxBufferSize = limits.MaxRecordChars,
        };
        if (dialect is not null) options.Delimiter = dialect.Delimiter;
        try
        {
            CsvDataReader reader;
            try { reader = await (rented is null ? CsvDataReader.CreateAsync(text, options, cancellationToken) : CsvDataReader.CreateAsync(text, rented, options, cancellationToken)); }
            catch (CsvRecordTooLargeException)
            {
                throw new ImportFailure(Abstractions.JobStatus.Failed,
                    $"The first row (the header) is longer than {limits.MaxRecordChars} characters (the limit MAX_RECORD_CHARS); nothing was loaded.");
            }
            catch (DecoderFallbackException e) when (reportEncodingErrors) { throw EncodingErrors.NotUtf8(e, "the header"); }
            if (reader.FieldCount == 0 || (reader.FieldCount == 1 && string.IsNullOrWhiteSpace(reader.GetName(0))))
            {
                await reader.DisposeAsync();
                text.Dispose();
                SmallArrays<char>.Return(rented);
                return null; // no header at all: the file is empty
            }
            if (CheckHeader(reader, options.HasHeaders, limits) is { } problem)
            {
                await reader.DisposeAsync();
                throw new ImportFailure(Abstractions.JobStatus.Failed, problem);
            }
            // Without a header row, columns are named column_1, column_2, ...
            IReadOnlyList<string> columns = [.. Enumerable.Range(0, reader.FieldCount).Select(i => options.HasHeaders ? reader.GetName(i) : $"column_{i + 1}")];
            return new CsvRowSource(text, reader, columns, limits, reportEncodingErrors, rented);
        }
        catch
        {
            text.Dispose();
            SmallArrays<char>.Return(rented);
            throw;
        }
    }

    private const int BufferChars = 1 << 16;

    /// <summary>
    /// The parser's first buffer, rented: a new one per import (128 KB) went to the large-object heap, whose budget then set
    /// off a full GC every few small uploads. Only at the usual record limit, where the pool's array is exactly the size asked:
    /// a bigger one would let a record past a lower MAX_RECORD_CHARS fit (Sylvan grows its buffer, into an array of its own,
    /// only up to MaxBufferSize).
    /// </summary>
    private static char[]? RentBuffer(ImportLimits limits) => limits.MaxRecordChars >= BufferChars ? SmallArrays<char>.Rent(BufferChars) : null;

    /// <summary>Width first (it bounds everything after), then the header's length and its names.</summary>
    private static string? CheckHeader(CsvDataReader reader, bool hasHeader, ImportLimits limits)
    {
        var what = hasHeader ? "header" : "first row";
        if (reader.FieldCount > DatasetLimits.MaxColumns)
            return $"The {what} has {reader.FieldCount} columns; a dataset can have at most {DatasetLimits.MaxColumns} columns (PostgreSQL's 1600 less the service's own bookkeeping columns).";
        if (!hasHeader) return null;
        long length = 0;
        for (var i = 0; i < reader.FieldCount; i++)
        {
            var name = reader.GetName(i);
            length += name.Length;
            if (name.Contains('\0'))
                return $"Column {i + 1} of the header contains a NUL character; the file may be UTF-16 without a byte order mark. Save it as UTF-8.";
            if (name.Contains(EncodingErrors.InvalidByteMarker))
                return $"Column {i + 1} of the header: {EncodingErrors.InvalidByteMessage}.";
        }
        return length > limits.MaxHeaderChars
            ? $"The header's column names are {length} characters long in all; the limit is {limits.MaxHeaderChars} (MAX_HEADER_CHARS)."
            : null;
    }

    public async ValueTask<bool> ReadAsync()
    {
        bool read;
        try { read = await _reader.ReadAsync(); }
        catch (CsvRecordTooLargeException)
        {
            throw new ImportFailure(Abstractions.JobStatus.Failed,
                $"Row {_row + 1} is longer than {_limits.MaxRecordChars} characters (the limit MAX_RECORD_CHARS; an unclosed quote makes the rest of the file one record); nothing was loaded.");
        }
        catch (DecoderFallbackException e) when (_reportEncodingErrors) { throw EncodingErrors.NotUtf8(e, $"row {_row + 1}"); }
        catch (CsvFormatException e)
        {
            throw new ImportFailure(Abstractions.JobStatus.Failed,
                $"Row {_row + 1}" + (e.FieldOrdinal >= 0 && e.FieldOrdinal < Columns.Count ? $", column '{Columns[e.FieldOrdinal]}'" : "")
                + ": the CSV is malformed (a quote inside a field must be doubled, and a quoted field must be closed).");
        }
        if (!read) return false;
        _row++;
        RecordError = _reader.RowFieldCount > Columns.Count ? Ragged() : null;
        return true;
    }

    /// <summary>More fields than the header would lose data, unless the extra ones are empty (a trailing delimiter).</summary>
    private RowError? Ragged()
    {
        for (var i = Columns.Count; i < _reader.RowFieldCount; i++)
        {
            if (!_reader.GetFieldSpan(i).IsWhiteSpace())
                return new RowError(_row, null, $"the row has {_reader.RowFieldCount} fields but the header has {Columns.Count}");
        }
        return null;
    }

    public ReadOnlySpan<char> GetField(int index)
    {
        if (index >= _reader.RowFieldCount) return [];
        var field = _reader.GetFieldSpan(index);
        if (field.Length > _limits.MaxFieldChars)
            throw new ImportFailure(Abstractions.JobStatus.Failed,
                $"Row {_row}, column '{Columns[index]}': the value is {field.Length} characters long; the limit is {_limits.MaxFieldChars} (MAX_FIELD_CHARS).");
        return field;
    }

    public void Dispose()
    {
        _reader.Dispose();
        _text.Dispose();
        SmallArrays<char>.Return(_rented);
        _rented = null;
    }
}

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
