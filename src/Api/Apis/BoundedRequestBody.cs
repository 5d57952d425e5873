using DatasetPlatform.Grains.Storage;

namespace DatasetPlatform.Api.Apis;

/// <summary>
/// Reads a small request body whole, but never more than a limit: a Content-Length over it is refused unread, and a body
/// without one is refused as soon as it passes it. The JSON bodies of create/update calls and of block PATCHes use it.
/// </summary>
public static class BoundedRequestBody
{
    /// <summary>
    /// The body's bytes in a buffer rented from the pool (the caller disposes it), or null when it is larger than
    /// <paramref name="maxBytes"/>. A new array per body went to the large-object heap for block uploads, read on every upload.
    /// </summary>
    public static async Task<PooledBufferWriter?> ReadAsync(HttpRequest request, long maxBytes, CancellationToken cancellationToken)
    {
        if (request.ContentLength > maxBytes) return null;
        var buffer = new PooledBufferWriter((int)Math.Min(request.ContentLength ?? 64 * 1024, maxBytes) + 1);
        try
        {
            while (true)
            {
                var read = await request.Body.ReadAsync(buffer.GetMemory(16 * 1024), cancellationToken);
                if (read == 0) return buffer;
                buffer.Advance(read);
                if (buffer.WrittenCount > maxBytes) break;
            }
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
        buffer.Dispose();
        return null;
    }
}
