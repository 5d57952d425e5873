using System.Buffers;

namespace DatasetPlatform.Api.Apis;

/// <summary>
/// Reads a small request body whole, but never more than a limit: a Content-Length over it is refused unread, and a body
/// without one is refused as soon as it passes it. The JSON bodies of create/update calls and of block PATCHes use it.
/// </summary>
public static class BoundedRequestBody
{
    /// <summary>The body's bytes, or null when it is larger than <paramref name="maxBytes"/>.</summary>
    public static async Task<ArrayBufferWriter<byte>?> ReadAsync(HttpRequest request, long maxBytes, CancellationToken cancellationToken)
    {
        if (request.ContentLength > maxBytes) return null;
        var buffer = new ArrayBufferWriter<byte>((int)Math.Min(request.ContentLength ?? 64 * 1024, maxBytes) + 1);
        while (true)
        {
            var read = await request.Body.ReadAsync(buffer.GetMemory(16 * 1024), cancellationToken);
            if (read == 0) return buffer;
            buffer.Advance(read);
            if (buffer.WrittenCount > maxBytes) return null;
        }
    }
}
