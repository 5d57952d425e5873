using System.Globalization;
using System.Threading.RateLimiting;
using DatasetPlatform.Api.Apis;
using DatasetPlatform.Grains;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace DatasetPlatform.Api.Hosting;

/// <summary>
/// Keeps slow or many clients from taking the gateway down: a per-process bound on uploads received at once (429 with
/// Retry-After beyond it, before any byte of the body is read), and Kestrel's minimum body data rate and request-headers
/// timeout, and an idle limit inside upload bodies, so a client that trickles or stops is cut off instead of holding an
/// upload slot forever.
/// </summary>
public static class UploadConcurrency
{
    public const string Policy = "uploads";

    /// <summary>The concurrency limit of row downloads (<see cref="PlatformOptions.MaxConcurrentDownloads"/>).</summary>
    public const string DownloadPolicy = "downloads";

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
            // A download holds a database connection until its client has read it all; bounded like uploads, so slow readers
            // cannot take the pool from the rest of the API.
            limiter.AddConcurrencyLimiter(DownloadPolicy, concurrency =>
            {
                concurrency.PermitLimit = options.MaxConcurrentDownloads;
                concurrency.QueueLimit = 0;
            });
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.OnRejected = async (context, _) =>
            {
                context.HttpContext.Response.Headers.RetryAfter = options.UploadRetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
                var download = context.HttpContext.GetEndpoint()?.Metadata.GetMetadata<EnableRateLimitingAttribute>()?.PolicyName == DownloadPolicy;
                await (download
                    ? Problems.Create(StatusCodes.Status429TooManyRequests, "Too many downloads", "too-many-downloads",
                        $"This server is sending its limit of {options.MaxConcurrentDownloads} concurrent downloads; retry in {options.UploadRetryAfterSeconds} s.")
                    : Problems.Create(StatusCodes.Status429TooManyRequests, "Too many uploads", "too-many-uploads",
                        $"This server is receiving its limit of {options.MaxConcurrentUploads} concurrent uploads; retry in {options.UploadRetryAfterSeconds} s."))
                    .ExecuteAsync(context.HttpContext);
            };
        });
    }

    /// <summary>Counts the endpoint's requests against the concurrent-download limit for as long as each runs.</summary>
    public static RouteHandlerBuilder RequireDownloadSlot(this RouteHandlerBuilder endpoint) => endpoint.RequireRateLimiting(DownloadPolicy);

    /// <summary>
    /// Counts the endpoint's requests against the concurrent-upload limit for as long as each runs, and fails a read of
    /// its body that gets no byte for <see cref="PlatformOptions.UploadIdleSeconds"/> (408).
    /// </summary>
    public static RouteHandlerBuilder RequireUploadSlot(this RouteHandlerBuilder endpoint) => endpoint
        .RequireRateLimiting(Policy)
        .AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            var idle = TimeSpan.FromSeconds(http.RequestServices.GetRequiredService<IOptions<PlatformOptions>>().Value.UploadIdleSeconds);
            using var body = new IdleTimeoutStream(http.Request.Body, idle, http.RequestAborted);
            http.Request.Body = body;
            return await next(context);
        });

    /// <summary>A request body whose reads fail with a 408 when no byte arrives for <c>idle</c>.</summary>
    /// <remarks>One timer for the whole body, re-armed by each read, rather than a timer per read.</remarks>
    private sealed class IdleTimeoutStream(Stream inner, TimeSpan idle, CancellationToken aborted) : ForwardOnlyReadStream
    {
        private readonly CancellationTokenSource _silence = CancellationTokenSource.CreateLinkedTokenSource(aborted);

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            _silence.CancelAfter(idle);
            try
            {
                if (!cancellationToken.CanBeCanceled || cancellationToken == aborted) return await inner.ReadAsync(buffer, _silence.Token);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _silence.Token);
                return await inner.ReadAsync(buffer, linked.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && !aborted.IsCancellationRequested)
            {
                throw new Microsoft.AspNetCore.Http.BadHttpRequestException($"The upload sent no data for {idle.TotalSeconds:0} s; it was cut off.",
                    StatusCodes.Status408RequestTimeout);
            }
            finally
            {
                _silence.CancelAfter(Timeout.InfiniteTimeSpan); // the time between reads is the handler's (a database write), not the client's
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) _silence.Dispose();
            base.Dispose(disposing);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("Upload bodies are read asynchronously.");
    }
}
