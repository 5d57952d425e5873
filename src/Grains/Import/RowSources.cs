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
