using System.Globalization;
using DatasetPlatform.Api.Apis;
using Microsoft.AspNetCore.Diagnostics;

namespace DatasetPlatform.Api.Hosting;

/// <summary>A grain call that could not be completed in time (<see cref="ClusterUnavailableException"/>) is a 503 with Retry-After, not a 500.</summary>
internal sealed class ClusterUnavailableExceptionHandler : IExceptionHandler
{
    /// <summary>About how long the cluster needs to notice a dead silo and place its grains elsewhere.</summary>
    public const int RetryAfterSeconds = 5;

    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not ClusterUnavailableException || context.Response.HasStarted) return false;
        context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        await Problems.ClusterUnavailable(exception.Message).ExecuteAsync(context);
        return true;
    }
}
