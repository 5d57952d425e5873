using System.Text.Json;
using DatasetPlatform.Api.Apis;
using DatasetPlatform.Grains.Storage;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Options;

namespace DatasetPlatform.Api.Hosting;

/// <summary>
/// A body that cannot be read (malformed JSON or form) is the client's error: 400, not 500. An upload whose staged file
/// vanished while it streamed (its dataset was deleted) is a 409.
/// </summary>
internal sealed class BadRequestExceptionHandler(IOptions<PlatformOptions> options) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        var (status, detail) = exception switch
        {
            JsonException e => (400, $"The body is not valid JSON: {e.Message}"),
            // Kestrel's own 413 names the body limit of an upload, which is the file limit plus room for multipart framing
            // (UploadLimit): say the limit the user configured and can look up instead.
            BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } e when e.Message.StartsWith("Request body too large", StringComparison.Ordinal)
                => (413, $"The upload exceeds the limit of {options.Value.MaxUploadBytes} bytes (MAX_DATASET_UPLOAD_BYTES)."),
            BadHttpRequestException e => (e.StatusCode, e.Message),
            InvalidDataException e when e.Message.Contains("length limit", StringComparison.OrdinalIgnoreCase) => (413, $"The form is too large: {e.Message}"),
            InvalidDataException e => (400, $"The body is malformed: {e.Message}"),
            StagedFileLostException e => (409, e.Message),
            _ => (0, (string?)null),
        };
        if (detail is null || context.Response.HasStarted) return false;
        var problem = status == StatusCodes.Status413PayloadTooLarge ? Problems.TooLarge(detail)
            : status == StatusCodes.Status400BadRequest ? Problems.BadRequest(detail)
            : status == StatusCodes.Status409Conflict ? Problems.Conflict(detail)
            : Problems.Create(status, "Bad request", "bad-request", detail);
        await problem.ExecuteAsync(context);
        return true;
    }
}
