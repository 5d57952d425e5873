using System.Globalization;
using System.Threading.RateLimiting;
using DatasetPlatform.Api.Apis;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace DatasetPlatform.Api.Hosting;

/// <summary>
/// Keeps slow or many clients from taking the gateway down: a per-process bound on uploads received at once (429 with
/// Retry-After beyond it, before any byte of the body is read), and Kestrel's minimum body data rate and request-headers
/// timeout, so a client that trickles bytes is cut off instead of holding an upload slot forever.
/// </summary>
public static class UploadConcurrency
{
    public const string Policy = "uploads";

    public static void AddUploadLimits(this WebApplicationBuilder builder, PlatformOptions options)
    {
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MinRequestBodyDataRate = new MinDataRate(options.MinUploadBytesPerSecond, TimeSpan.FromSeconds(options.MinUploadRateGraceSeconds));
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(options.RequestHeadersTimeoutSeconds);
        });
        builder.Services.AddRateLimiter(limiter =>
        {
            limiter.AddConcurrencyLimiter(Policy, concurrency =>
            {
                concurrency.PermitLimit = options.MaxConcurrentUploads;
                concurrency.QueueLimit = 0; // an upload waiting in memory for a slot would hold its client's connection all the same
            });
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.OnRejected = async (context, _) =>
            {
                context.HttpContext.Response.Headers.RetryAfter = options.UploadRetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
                await Problems.Create(StatusCodes.Status429TooManyRequests, "Too many uploads", "too-many-uploads",
                    $"This server is receiving its limit of {options.MaxConcurrentUploads} concurrent uploads; retry in {options.UploadRetryAfterSeconds} s.")
                    .ExecuteAsync(context.HttpContext);
            };
        });
    }

    /// <summary>Counts the endpoint's requests against the concurrent-upload limit for as long as each runs.</summary>
    public static RouteHandlerBuilder RequireUploadSlot(this RouteHandlerBuilder endpoint) => endpoint.RequireRateLimiting(Policy);
}
