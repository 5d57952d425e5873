using DatasetPlatform.Grains.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace DatasetPlatform.Api.Apis;

/// <summary>
/// Runs a download that streams to the response body, so that a failure is never a 200 that merely stops early:
/// before the first byte it is a ProblemDetails; after it, the connection is aborted (the client sees a failed
/// transfer, not a short file) and the failure is logged. A client that went away is only logged.
/// </summary>
public static partial class StreamedDownload
{
    public static async Task<Results<EmptyHttpResult, ProblemHttpResult>> RunAsync(HttpContext context, Func<CancellationToken, Task> write)
    {
        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(StreamedDownload));
        var path = context.Request.Path.Value ?? "";
        try
        {
            await write(context.RequestAborted);
            return TypedResults.Empty;
        }
        catch (Exception e) when (context.RequestAborted.IsCancellationRequested)
        {
            LogClientGone(logger, path, e.GetType().Name);
            return TypedResults.Empty;
        }
        catch (Exception e) when (!context.Response.HasStarted
            && ReadFailures.ProblemFor(e, context.RequestServices.GetRequiredService<IOptions<ReadOptions>>().Value) is { } problem)
        {
            LogFailedBeforeStart(logger, e, path);
            context.Response.Clear();
            return problem;
        }
        catch (Exception e) when (context.Response.HasStarted)
        {
            LogAborted(logger, e, path);
            context.Abort();
            return TypedResults.Empty;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Download {Path} stopped: the client went away ({Exception})")]
    private static partial void LogClientGone(ILogger logger, string path, string exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Download {Path} failed before its first byte; answered with a problem")]
    private static partial void LogFailedBeforeStart(ILogger logger, Exception exception, string path);

    [LoggerMessage(Level = LogLevel.Error, Message = "Download {Path} failed after its first byte; the response was aborted")]
    private static partial void LogAborted(ILogger logger, Exception exception, string path);
}
