using System.Text.Json;
using DatasetPlatform.Api.Apis;
using Microsoft.AspNetCore.Diagnostics;

namespace DatasetPlatform.Api.Hosting;

/// <summary>A body that cannot be read (malformed JSON or form) is the client's error: 400, not 500.</summary>
internal sealed class BadRequestExceptionHandler : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        var detail = exception switch
        {
            JsonException e => $"The body is not valid JSON: {e.Message}",
            BadHttpRequestException e => e.Message,
            InvalidDataException e => $"The body is malformed: {e.Message}",
            _ => null,
        };
        if (detail is null || context.Response.HasStarted) return false;
        await Problems.BadRequest(detail).ExecuteAsync(context);
        return true;
    }
}
