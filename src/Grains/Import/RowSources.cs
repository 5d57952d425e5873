using System.IO.Compression;
using System.Text;
using Sylvan.Data.Csv;

namespace DatasetPlatform.Grains.Import;

/// <summary>A forward-only source of rows whose fields are read as text spans (no per-field strings).</summary>
internal interface IRowSource : IDisposable
{
    IReadOnlyList<string> Columns { get; }
    ValueTask<bool> ReadAsync();
    /// <summary>The field's text; empty when the row is shorter than the header.</summary>
    ReadOnlySpan<char> GetField(int index);
}

/// <summary>CSV with a header row, delimiter detected by Sylvan (comma, tab, semicolon, pipe).</summary>
internal sealed class CsvRowSource : IRowSource
{
    private readonly CsvDataReader _reader;
    private readonly TextReader _text;

    /// <summary>Puts back the one character read to tell an empty file from a non-empty one.</summary>
    private sealed class PrefixedTextReader(char first, TextReader inner) : TextReader
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

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }

    private CsvRowSource(TextReader text, CsvDataReader reader)
    {
        _text = text;
        _reader = reader;
        Columns = [.. Enumerable.Range(0, reader.FieldCount).Select(reader.GetName)];
    }

    public IReadOnlyList<string> Columns { get; }

    public static async Task<CsvRowSource?> OpenAsync(Stream stream, CancellationToken cancellationToken)
    {
        TextReader text = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
        // Sylvan insists on a header row; a file with no bytes at all is simply empty.
        var first = new char[1];
        if (await text.ReadAsync(first, cancellationToken) == 0)
        {
            text.Dispose();
            return null;
        }
        text = new PrefixedTextReader(first[0], text);
        var options = new CsvDataReaderOptions
        {
            HasHeaders = true,
            BufferSize = 1 << 16,
            MaxBufferSize = 1 << 24,
            // Keep quoted and unquoted empty fields alike: both are "no value".
            ResultSetMode = ResultSetMode.SingleResult,
        };
        try
        {
            var reader = await CsvDataReader.CreateAsync(text, options, cancellationToken);
            if (reader.FieldCount == 0 || (reader.FieldCount == 1 && string.IsNullOrWhiteSpace(reader.GetName(0))))
            {
                await reader.DisposeAsync();
                text.Dispose();
                return null; // no header at all: the file is empty
            }
            return new CsvRowSource(text, reader);
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
