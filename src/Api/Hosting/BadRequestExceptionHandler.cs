using System.Text.Json;
using DatasetPlatform.Api.Apis;
using DatasetPlatform.Grains.Storage;
using Microsoft.AspNetCore.Diagnostics;

namespace DatasetPlatform.Api.Hosting;

/// <summary>
/// A body that cannot be read (malformed JSON or form) is the client's error: 400, not 500. An upload whose staged file
/// vanished while it streamed (its dataset was deleted) is a 409.
/// </summary>
internal sealed class BadRequestExceptionHandler : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        var (status, detail) = exception switch
        {
            JsonException e => (400, $"The body is not valid JSON: {e.Message}"),
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
