using DatasetPlatform.Grains.Storage;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Options;
using Npgsql;

namespace DatasetPlatform.Api.Hosting;

/// <summary>
/// A read that ran past its statement_timeout (analyze, quality, compare, date-stats) is a clear 503 that names the
/// limit, not an anonymous 500. Other database errors keep the default handling.
/// </summary>
internal sealed class ReadFailureExceptionHandler(IOptions<ReadOptions> options) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (context.Response.HasStarted || exception is not PostgresException { SqlState: PostgresErrorCodes.QueryCanceled }) return false;
        if (Apis.ReadFailures.ProblemFor(exception, options.Value) is not { } problem) return false;
        await problem.ExecuteAsync(context);
        return true;
    }
}
