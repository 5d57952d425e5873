using System.IO.Compression;
using System.Text;
using System.Text.Json;
using DatasetPlatform.Grains.Schema;
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
    /// <param name="schemaColumns">For JSON lines: the fields records may carry (all others are unknown).</param>
    /// <param name="strictFields">For JSON lines: an unknown field rejects its record instead of being ignored.</param>
    public static async Task<IRowSource?> OpenAsync(Stream stream, IReadOnlyList<string> schemaColumns, bool strictFields, CancellationToken cancellationToken)
    {
        var text = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
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
            ? new JsonLinesRowSource(replay, schemaColumns, strictFields)
            : await CsvRowSource.OpenAsync(replay, dialect: null, cancellationToken);
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

    public override int Read(Span<char> buffer)
    {
        if (!_pending || buffer.IsEmpty) return inner.Read(buffer);
        _pending = false;
        buffer[0] = first;
        return 1;
    }

    public override int Read(char[] buffer, int index, int count) => Read(buffer.AsSpan(index, count));

    public override ValueTask<int> ReadAsync(Memory<char> buffer, CancellationToken cancellationToken = default) =>
        _pending && !buffer.IsEmpty ? ValueTask.FromResult(Read(buffer.Span)) : inner.ReadAsync(buffer, cancellationToken);

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
/// </summary>
internal sealed class JsonLinesRowSource(TextReader text, IReadOnlyList<string> columns, bool strictFields) : IRowSource
{
    private readonly Dictionary<string, int> _index = columns.Select((c, i) => (Key: ColumnNames.Key(c), i))
        .GroupBy(p => p.Key).ToDictionary(g => g.Key, g => g.First().i);
    private readonly string?[] _values = new string?[columns.Count];
    private long _record;

    public IReadOnlyList<string> Columns { get; } = columns;
    public RowError? RecordError { get; private set; }

    public async ValueTask<bool> ReadAsync()
    {
        string? line;
        do
        {
            line = await text.ReadLineAsync();
            if (line is null) return false;
        } while (string.IsNullOrWhiteSpace(line));
        _record++;
        Array.Clear(_values);
        RecordError = null;
        try
        {
            using var document = JsonDocument.Parse(line);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                RecordError = new RowError(_record, null, "the line is not a JSON object");
                return true;
            }
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!_index.TryGetValue(ColumnNames.Key(property.Name), out var i))
                {
                    if (strictFields && RecordError is null) RecordError = new RowError(_record, property.Name, $"unknown field '{property.Name}'");
                    continue;
                }
                _values[i] = property.Value.ValueKind switch
                {
                    JsonValueKind.String => property.Value.GetString(),
                    JsonValueKind.Null or JsonValueKind.Undefined => null,
                    _ => property.Value.GetRawText(),
                };
            }
        }
        catch (JsonException e)
        {
            RecordError = new RowError(_record, null, $"invalid JSON: {e.Message}");
        }
        return true;
    }

    public ReadOnlySpan<char> GetField(int index) => _values[index];

    public void Dispose() => text.Dispose();
}

/// <summary>CSV with a header row, delimiter detected by Sylvan (comma, tab, semicolon, pipe).</summary>
internal sealed class CsvRowSource : IRowSource
{
    private readonly CsvDataReader _reader;
    private readonly TextReader _text;

    private CsvRowSource(TextReader text, CsvDataReader reader, bool hasHeader)
    {
        _text = text;
        _reader = reader;
        // Without a header row, columns are named column_1, column_2, ...
        Columns = [.. Enumerable.Range(0, reader.FieldCount).Select(i => hasHeader ? reader.GetName(i) : $"column_{i + 1}")];
    }

    public IReadOnlyList<string> Columns { get; }

    public RowError? RecordError => null;

    /// <param name="dialect">A sniffed dialect (delimiter, header or not); null lets Sylvan detect the delimiter of a file with a header.</param>
    public static async Task<CsvRowSource?> OpenAsync(TextReader text, CsvDialect? dialect, CancellationToken cancellationToken)
    {
        var options = new CsvDataReaderOptions { HasHeaders = dialect?.HasHeader ?? true, BufferSize = 1 << 16, MaxBufferSize = 1 << 24 };
        if (dialect is not null) options.Delimiter = dialect.Delimiter;
        try
        {
            var reader = await CsvDataReader.CreateAsync(text, options, cancellationToken);
            if (reader.FieldCount == 0 || (reader.FieldCount == 1 && string.IsNullOrWhiteSpace(reader.GetName(0))))
            {
                await reader.DisposeAsync();
                text.Dispose();
                return null; // no header at all: the file is empty
            }
            return new CsvRowSource(text, reader, options.HasHeaders);
        }
        catch
        {
            text.Dispose();
            throw;
        }
    }

    public async ValueTask<bool> ReadAsync() => await _reader.ReadAsync();

    public ReadOnlySpan<char> GetField(int index) =>
        index < _reader.RowFieldCount ? _reader.GetFieldSpan(index) : [];

    public void Dispose()
    {
        _reader.Dispose();
        _text.Dispose();
    }
}

/// <summary>Opens an uploaded file's bytes: gzip is recognised by its magic bytes, whatever the file is called.</summary>
internal static class UploadDecoder
{
    public static async Task<Stream> DecompressIfNeededAsync(Stream raw, CancellationToken cancellationToken)
    {
        var prefix = new byte[2];
        var read = 0;
        while (read < 2)
        {
            var n = await raw.ReadAsync(prefix.AsMemory(read), cancellationToken);
            if (n == 0) break;
            read += n;
        }
        Stream stream = new PrefixedStream(prefix.AsMemory(0, read), raw);
        return read == 2 && prefix[0] == 0x1F && prefix[1] == 0x8B ? new GZipStream(stream, CompressionMode.Decompress) : stream;
    }

    /// <summary>Replays bytes already read (the sniffed prefix) before the rest of the stream.</summary>
    private sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream inner) : Stream
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

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>Counts bytes read through it, for progress reporting.</summary>
internal sealed class CountingStream(Stream inner, Action<long> onRead) : Stream
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

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _total; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
