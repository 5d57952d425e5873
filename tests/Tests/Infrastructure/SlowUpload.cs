using System.Net.Sockets;
using System.Text;

namespace DatasetPlatform.Tests.Infrastructure;

/// <summary>
/// A client that uploads the way a slow or hostile one does: a real TCP connection, the request head and the start of
/// the body at once, then the body trickled a few bytes at a time. It can finish the body at full speed or go silent.
/// The response is read in the background as soon as the server sends one.
/// </summary>
public sealed class SlowUpload : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly byte[] _body;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private int _sent;
    private Task? _trickle;

    private SlowUpload(TcpClient tcp, byte[] body)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
        _body = body;
        Response = ReadResponseAsync();
    }

    /// <summary>What the server answered: status, headers and body; status 0 when it closed the connection without an answer.</summary>
    public Task<RawResponse> Response { get; }

    public int BytesSent => Volatile.Read(ref _sent);

    /// <summary>
    /// Connects, sends the request head and the first <paramref name="initialBytes"/> of the body, then keeps sending
    /// <paramref name="bytesPerTick"/> every <paramref name="tick"/> until finished or stalled.
    /// </summary>
    public static async Task<SlowUpload> StartAsync(int port, string method, string pathAndQuery, IReadOnlyDictionary<string, string> headers,
        byte[] body, int initialBytes, int bytesPerTick, TimeSpan tick)
    {
        var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync("127.0.0.1", port);
        var head = new StringBuilder($"{method} {pathAndQuery} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {body.Length}\r\n");
        foreach (var (name, value) in headers) head.Append($"{name}: {value}\r\n");
        head.Append("\r\n");
        var upload = new SlowUpload(tcp, body);
        await upload._stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()));
        await upload.SendAsync(Math.Min(initialBytes, body.Length));
        upload._trickle = upload.TrickleAsync(bytesPerTick, tick);
        return upload;
    }

    /// <summary>Stops trickling and sends the rest of the body at once.</summary>
    public async Task FinishAsync()
    {
        await StallAsync();
        await SendAsync(_body.Length - BytesSent);
    }

    /// <summary>Stops sending anything (the connection stays open, as a client that hung would leave it).</summary>
    public async Task StallAsync()
    {
        await _stop.CancelAsync();
        if (_trickle is not null) await _trickle;
    }

    private async Task TrickleAsync(int bytesPerTick, TimeSpan tick)
    {
        try
        {
            while (BytesSent < _body.Length)
            {
                await Task.Delay(tick, _stop.Token);
                await SendAsync(Math.Min(bytesPerTick, _body.Length - BytesSent));
            }
        }
        catch (OperationCanceledException) { }
        catch (IOException) { } // the server cut the connection
        catch (SocketException) { }
    }

    private async Task SendAsync(int count)
    {
        if (count <= 0) return;
        await _writeLock.WaitAsync();
        try
        {
            await _stream.WriteAsync(_body.AsMemory(BytesSent, count));
            Interlocked.Add(ref _sent, count);
        }
        finally { _writeLock.Release(); }
    }

    private async Task<RawResponse> ReadResponseAsync()
    {
        await Task.Yield();
        var received = new MemoryStream();
        var buffer = new byte[8192];
        try
        {
            while (true)
            {
                var read = await _stream.ReadAsync(buffer);
                if (read == 0) break;
                received.Write(buffer, 0, read);
                if (RawResponse.TryParse(received.ToArray(), out var complete)) return complete;
            }
        }
        catch (IOException) { }
        catch (ObjectDisposedException) { }
        return RawResponse.TryParse(received.ToArray(), out var partial) ? partial : RawResponse.Closed;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _tcp.Dispose();
        try { await Response; } catch (Exception) { /* closed */ }
        _stop.Dispose();
        _writeLock.Dispose();
    }
}

/// <summary>An HTTP/1.1 response read off a raw socket (status 0: the server closed the connection without one).</summary>
public sealed record RawResponse(int Status, IReadOnlyDictionary<string, string> Headers, string Body)
{
    public static readonly RawResponse Closed = new(0, new Dictionary<string, string>(), "");

    /// <summary>Parses a complete response (head and a Content-Length or chunked body); false while more is to come.</summary>
    public static bool TryParse(byte[] data, out RawResponse response)
    {
        response = Closed;
        var text = Encoding.UTF8.GetString(data);
        var headEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (headEnd < 0) return false;
        var lines = text[..headEnd].Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1]);
        var headers = lines.Skip(1).Select(l => l.Split(':', 2)).ToDictionary(p => p[0].Trim(), p => p[1].Trim(), StringComparer.OrdinalIgnoreCase);
        var body = text[(headEnd + 4)..];
        if (headers.TryGetValue("Content-Length", out var length))
        {
            if (Encoding.UTF8.GetByteCount(body) < int.Parse(length)) return false;
        }
        else if (headers.TryGetValue("Transfer-Encoding", out var encoding) && encoding.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            if (!body.EndsWith("0\r\n\r\n", StringComparison.Ordinal)) return false;
            body = Unchunk(body);
        }
        response = new RawResponse(status, headers, body);
        return true;
    }

    private static string Unchunk(string body)
    {
        var result = new StringBuilder();
        var at = 0;
        while (true)
        {
            var lineEnd = body.IndexOf("\r\n", at, StringComparison.Ordinal);
            var size = Convert.ToInt32(body[at..lineEnd], 16);
            if (size == 0) return result.ToString();
            result.Append(body, lineEnd + 2, size);
            at = lineEnd + 2 + size + 2;
        }
    }
}
