using System.Net;
using System.Text.Json;

namespace DatasetPlatform.Cli.Http;

/// <summary>An error answer of the API, read from its RFC 7807 ProblemDetails body when it has one.</summary>
internal sealed class ApiException(HttpStatusCode status, string title, string? detail, IReadOnlyList<string> fieldErrors, string? rawBody)
    : Exception(detail is null ? title : $"{title}: {detail}")
{
    public HttpStatusCode Status { get; } = status;
    public string Title { get; } = title;
    public string? Detail { get; } = detail;
    /// <summary>The `errors` member flattened to "field: message" lines (validation problems name their field or record).</summary>
    public IReadOnlyList<string> FieldErrors { get; } = fieldErrors;
    public string? RawBody { get; } = rawBody;

    public int ExitCode => Status switch
    {
        HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => ExitCodes.Auth,
        HttpStatusCode.NotFound => ExitCodes.NotFound,
        _ => ExitCodes.Error,
    };

    public static ApiException From(HttpStatusCode status, string? reason, string body)
    {
        var title = $"{(int)status} {reason}".Trim();
        string? detail = null;
        var errors = new List<string>();
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                if (root.TryGetProperty("title", out var t) && t.ValueKind == JsonValueKind.String) title = $"{(int)status} {t.GetString()}";
                if (root.TryGetProperty("detail", out var d) && d.ValueKind == JsonValueKind.String) detail = d.GetString();
                else if (root.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String) detail = m.GetString();
                if (root.TryGetProperty("errors", out var e) && e.ValueKind == JsonValueKind.Object)
                {
                    foreach (var field in e.EnumerateObject())
                    {
                        var messages = field.Value.ValueKind == JsonValueKind.Array
                            ? field.Value.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.String ? v.GetString() : v.GetRawText())
                            : [field.Value.ToString()];
                        // A field error that only repeats the detail adds nothing.
                        errors.AddRange(messages.Where(message => message != detail).Select(message => $"{field.Name}: {message}"));
                    }
                }
            }
        }
        catch (JsonException)
        {
            // Not ProblemDetails (a proxy's HTML page, an empty body): show the start of it.
            if (!string.IsNullOrWhiteSpace(body)) detail = body.Length > 300 ? body[..300] + "..." : body.Trim();
        }
        return new ApiException(status, title, detail, errors, body);
    }
}
