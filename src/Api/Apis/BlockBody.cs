using System.Text.Json;
using DatasetPlatform.Grains.Storage;

namespace DatasetPlatform.Api.Apis;

/// <summary>
/// The JSON body of a block PATCH, read whole but bounded before it is buffered: a Content-Length over the limit is refused
/// unread, and a body without one is refused as soon as it passes the limit. Field names match case-insensitively.
/// </summary>
public sealed class BlockBody : IDisposable
{
    private readonly JsonDocument? _document;
    /// <summary>The body's bytes, which the document is parsed over; given back to the pool after the document.</summary>
    private readonly PooledBufferWriter _bytes;

    private BlockBody(PooledBufferWriter bytes, JsonDocument? document, string? jsonError, bool tooManyValues = false)
    {
        _bytes = bytes;
        _document = document;
        JsonError = jsonError;
        TooManyValues = tooManyValues;
    }

    /// <summary>The body holds more JSON values than the limit given to <see cref="ReadAsync"/>; it was not parsed into a document.</summary>
    public bool TooManyValues { get; }

    /// <summary>The parsed body; null when it is not JSON (see <see cref="JsonError"/>).</summary>
    public JsonElement? Json => _document?.RootElement;

    public string? JsonError { get; }

    /// <summary>Reads the body; null when it is larger than <paramref name="maxBytes"/>.</summary>
    /// <param name="maxValues">How many JSON tokens the body may hold. Counted before a document is built, because a document
    /// costs memory per token (a 16 MB body of tiny values would take some 200 MB as a document).</param>
    public static async Task<BlockBody?> ReadAsync(HttpRequest request, long maxBytes, long maxValues, CancellationToken cancellationToken)
    {
        if (request.ContentLength > maxBytes) return null;
        // Kestrel's own limit (30 MB by default) must not cut a body the configured limit allows, nor let a larger one through.
        UploadLimit.Apply(request.HttpContext, maxBytes);
        if (await BoundedRequestBody.ReadAsync(request, maxBytes, cancellationToken) is not { } buffer) return null;
        try
        {
            // JSON is UTF-8, and the parser leaves the bytes inside strings unchecked: a value that is not UTF-8 would be read with
            // replacement characters (and stored so), or fail as a server error.
            if (!System.Text.Unicode.Utf8.IsValid(buffer.WrittenSpan)) return new BlockBody(buffer, null, "The body is not valid UTF-8 text.");
            if (CountTokens(buffer.WrittenSpan, maxValues) > maxValues) return new BlockBody(buffer, null, null, tooManyValues: true);
            // Parsed over the buffer itself, not a copy of it.
            return new BlockBody(buffer, JsonDocument.Parse(buffer.WrittenMemory), null);
        }
        catch (JsonException e)
        {
            return new BlockBody(buffer, null, e.Message);
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    /// <summary>Tokens of the JSON text, counting stops past <paramref name="limit"/>; no allocation. Throws JsonException when the text is not JSON.</summary>
    private static long CountTokens(ReadOnlySpan<byte> json, long limit)
    {
        var reader = new Utf8JsonReader(json);
        long tokens = 0;
        while (tokens <= limit && reader.Read()) tokens++;
        return tokens;
    }

    /// <summary>A top-level field of a JSON object body.</summary>
    public JsonElement? Field(string name)
    {
        if (Json is not { ValueKind: JsonValueKind.Object } root) return null;
        foreach (var property in root.EnumerateObject())
            if (string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase)) return property.Value;
        return null;
    }

    public void Dispose()
    {
        _document?.Dispose();
        _bytes.Dispose();
    }
}
