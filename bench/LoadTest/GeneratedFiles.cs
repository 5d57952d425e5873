using System.Globalization;
using System.Net;
using System.Text;

namespace DatasetPlatform.LoadTest;

/// <summary>
/// Files generated while they are sent: rows are written straight into the request body (chunked), never held whole in memory.
/// </summary>
public static class GeneratedFiles
{
    public static string KeyedCsvHeader { get; } = "Date,Entity," + string.Join(',', Enumerable.Range(1, RowValues.DecimalColumns).Select(j => "V" + j));

    /// <summary>Alphacast file (and the COPY baseline's): Date, Entity, V1..V6; keys [first, first + rows).</summary>
    public static async Task WriteKeyedCsvAsync(Stream stream, RowValues values, int upload, long first, long rows, CancellationToken cancellationToken)
    {
        await using var sink = new ChunkedTextSink(stream);
        var writer = sink.Writer;
        writer.Write(KeyedCsvHeader + "\n");
        for (var key = first; key < first + rows; key++)
        {
            writer.Write(RowValues.DateOf(key).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
            writer.Write(',');
            writer.Write(RowValues.EntityOf(key));
            for (var j = 1; j <= RowValues.DecimalColumns; j++)
            {
                writer.Write(',');
                RowValues.WriteCents(writer, values.Cents(upload, key, j));
            }
            writer.Write('\n');
            if ((key & 255) == 0) await sink.DrainIfFullAsync(cancellationToken);
        }
        await sink.DrainAsync(cancellationToken);
    }

    /// <summary>A record file (seed-004 versions): key, upload, value, label.</summary>
    public static async Task WriteRecordCsvAsync(Stream stream, RowValues values, int upload, CancellationToken cancellationToken)
    {
        await using var sink = new ChunkedTextSink(stream);
        var writer = sink.Writer;
        writer.Write("key,upload,value,label\n");
        var first = values.FirstKey(upload);
        for (var key = first; key < first + values.Rows; key++)
        {
            writer.Write(key.ToString(CultureInfo.InvariantCulture));
            writer.Write(',');
            writer.Write(upload.ToString(CultureInfo.InvariantCulture));
            writer.Write(',');
            RowValues.WriteCents(writer, values.Cents(upload, key, 0));
            writer.Write(',');
            writer.Write(RowValues.Label(upload, key));
            writer.Write('\n');
            if ((key & 255) == 0) await sink.DrainIfFullAsync(cancellationToken);
        }
        await sink.DrainAsync(cancellationToken);
    }

    /// <summary>JSON lines records (presigned door): {"key":..,"upload":..,"value":..,"label":".."}.</summary>
    public static async Task WriteJsonLinesAsync(Stream stream, RowValues values, int upload, CancellationToken cancellationToken)
    {
        await using var sink = new ChunkedTextSink(stream);
        var writer = sink.Writer;
        var first = values.FirstKey(upload);
        for (var key = first; key < first + values.Rows; key++)
        {
            WriteRecordJson(writer, values, upload, key);
            writer.Write('\n');
            if ((key & 255) == 0) await sink.DrainIfFullAsync(cancellationToken);
        }
        await sink.DrainAsync(cancellationToken);
    }

    public static void WriteRecordJson(TextWriter writer, RowValues values, int upload, long key)
    {
        writer.Write("{\"key\":");
        writer.Write(key.ToString(CultureInfo.InvariantCulture));
        writer.Write(",\"upload\":");
        writer.Write(upload.ToString(CultureInfo.InvariantCulture));
        writer.Write(",\"value\":");
        RowValues.WriteCents(writer, values.Cents(upload, key, 0));
        writer.Write(",\"label\":\"");
        writer.Write(RowValues.Label(upload, key));
        writer.Write("\"}");
    }
}

/// <summary>
/// Text written synchronously into a memory buffer and sent to the real stream asynchronously in chunks of about 64 KB, so generating
/// a file never blocks a thread on the network and never holds more than one chunk.
/// </summary>
public sealed class ChunkedTextSink : IAsyncDisposable
{
    private const int ChunkBytes = 1 << 16;
    private readonly Stream _target;
    private readonly MemoryStream _buffer = new();

    public ChunkedTextSink(Stream target)
    {
        _target = target;
        Writer = new StreamWriter(_buffer, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), 4096, leaveOpen: true);
    }

    public TextWriter Writer { get; }

    public async ValueTask DrainIfFullAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Writer.Flush();
        if (_buffer.Length >= ChunkBytes) await DrainAsync(cancellationToken);
    }

    public async ValueTask DrainAsync(CancellationToken cancellationToken)
    {
        Writer.Flush();
        if (_buffer.Length == 0) return;
        await _target.WriteAsync(_buffer.GetBuffer().AsMemory(0, (int)_buffer.Length), cancellationToken);
        _buffer.SetLength(0);
    }

    public async ValueTask DisposeAsync()
    {
        await Writer.DisposeAsync();
        await _buffer.DisposeAsync();
    }
}

/// <summary>A request body produced by a writer as it is sent; counts the bytes it wrote.</summary>
public sealed class GeneratedContent(Func<Stream, CancellationToken, Task> write, string mediaType) : HttpContent
{
    public long BytesWritten { get; private set; }

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context) => await SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        var counting = new CountingStream(stream);
        await write(counting, cancellationToken);
        BytesWritten = counting.Count;
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }

    public GeneratedContent WithType()
    {
        Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(mediaType);
        return this;
    }

    private sealed class CountingStream(Stream inner) : Stream
    {
        public long Count { get; private set; }
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => Count; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            inner.Write(buffer, offset, count);
            Count += count;
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await inner.WriteAsync(buffer, cancellationToken);
            Count += buffer.Length;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }
}
