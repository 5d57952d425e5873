using System.Buffers;
using DatasetPlatform.Grains.Storage;

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
        var buffer = new ArrayBufferWriter<byte>(InitialCapacity(request, maxBytes));
        return await FillAsync(request, buffer, maxBytes, cancellationToken) ? buffer : null;
    }

    /// <summary>
    /// The body's bytes in a buffer rented from the pool (the caller disposes it), or null when it is larger than
    /// <paramref name="maxBytes"/>. For bodies read on every upload (blocks), which a new array put on the large-object heap.
    /// </summary>
    public static async Task<PooledBufferWriter?> ReadPooledAsync(HttpRequest request, long maxBytes, CancellationToken cancellationToken)
    {
        if (request.ContentLength > maxBytes) return null;
        var buffer = new PooledBufferWriter(InitialCapacity(request, maxBytes));
        try
        {
            if (await FillAsync(request, buffer, maxBytes, cancellationToken)) return buffer;
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
        buffer.Dispose();
        return null;
    }

    private static int InitialCapacity(HttpRequest request, long maxBytes) => (int)Math.Min(request.ContentLength ?? 64 * 1024, maxBytes) + 1;

    /// <summary>Reads the whole body into <paramref name="buffer"/>; false as soon as it holds more than <paramref name="maxBytes"/>.</summary>
    private static async Task<bool> FillAsync<TWriter>(HttpRequest request, TWriter buffer, long maxBytes, CancellationToken cancellationToken)
        where TWriter : IBufferWriter<byte>
    {
        long written = 0;
        while (true)
        {
            var read = await request.Body.ReadAsync(buffer.GetMemory(16 * 1024), cancellationToken);
            if (read == 0) return true;
            buffer.Advance(read);
            written += read;
            if (written > maxBytes) return false;
        }
    }
}
