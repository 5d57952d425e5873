using Microsoft.Net.Http.Headers;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;

namespace DatasetPlatform.Api.Apis;

/// <summary>
/// The fields of a create/update request, whether they came as JSON or as a form: the Alphacast SDK posts
/// forms, curl users and other SDKs post JSON. Names match case-insensitively.
/// </summary>
public sealed class RequestFields
{
    private readonly Dictionary<string, JsonElement> _json = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, string[]> _form = new(StringComparer.OrdinalIgnoreCase);

    private const int MaxJsonBytes = 1 << 20;

    public JsonElement? RawJson { get; private set; }

    public static async Task<RequestFields> ReadAsync(HttpRequest request)
    {
        var fields = new RequestFields();
        if (request.HasFormContentType)
        {
            var form = await request.ReadFormAsync();
            foreach (var (key, value) in form) fields._form[key] = [.. value.Select(v => v ?? "")];
            return fields;
        }
        // Small JSON bodies only (uploads never come through here); refuse anything past 1 MiB rather than buffer it,
        // as a 413 like every other size limit (the exception handler maps BadHttpRequestException to its status code).
        using var body = await BoundedRequestBody.ReadAsync(request, MaxJsonBytes, request.HttpContext.RequestAborted) ?? throw TooLarge();
        if (body.WrittenSpan.IndexOfAnyExcept(" \n\r\t"u8) < 0) return fields;
        using var document = JsonDocument.Parse(body.WrittenMemory);
        fields.RawJson = document.RootElement.Clone();
        if (fields.RawJson.Value.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in fields.RawJson.Value.EnumerateObject()) fields._json[property.Name] = property.Value;
        }
        return fields;
    }

    private static BadHttpRequestException TooLarge() =>
        new($"The request body is larger than {MaxJsonBytes} bytes.", StatusCodes.Status413PayloadTooLarge);

    public bool Has(string name) => _json.ContainsKey(name) || _form.ContainsKey(name);

    public string? String(string name)
    {
        if (_form.TryGetValue(name, out var values)) return values.Length > 0 ? values[0] : null;
        if (!_json.TryGetValue(name, out var element)) return null;
        return element.ValueKind switch
        {
            JsonValueKind.String => element.GetString(),
            JsonValueKind.Null or JsonValueKind.Undefined => null,
            _ => element.GetRawText(),
        };
    }

    /// <summary>A list from a JSON array, repeated form fields, or one comma-separated value.</summary>
    public IReadOnlyList<string> Strings(string name)
    {
        if (_json.TryGetValue(name, out var element) && element.ValueKind == JsonValueKind.Array)
            return [.. element.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText())];
        var values = _form.TryGetValue(name, out var form) ? form : String(name) is { } single ? [single] : [];
        return [.. values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))];
    }

    public JsonElement? Json(string name) => _json.TryGetValue(name, out var element) ? element : null;

    public static bool? ParseBool(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" => null,
        "true" or "1" or "yes" or "on" => true,
        "false" or "0" or "no" or "off" => false,
        _ => throw new FormatException(),
    };
}

/// <summary>Query-string flags the way the Alphacast SDK sends them (True/False), parsed case-insensitively.</summary>
public static class QueryFlags
{
    public static bool TryRead(IQueryCollection query, string name, out bool value, out string? error)
    {
        value = false;
        error = null;
        var raw = query.FirstOrDefault(q => string.Equals(q.Key, name, StringComparison.OrdinalIgnoreCase)).Value.ToString();
        try
        {
            value = RequestFields.ParseBool(raw) ?? false;
            return true;
        }
        catch (FormatException)
        {
            error = $"Query parameter {name} must be true or false, not '{raw}'.";
            return false;
        }
    }
}

internal static class MultipartBoundary
{
    public static string? From(string? contentType)
    {
        if (contentType is null || !MediaTypeHeaderValue.TryParse(contentType, out var media)) return null;
        var boundary = HeaderUtilities.RemoveQuotes(media.Boundary).Value;
        return string.IsNullOrWhiteSpace(boundary) ? null : boundary;
    }
}
