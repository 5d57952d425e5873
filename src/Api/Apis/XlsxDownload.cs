using DatasetPlatform.Grains.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace DatasetPlatform.Api.Apis;

/// <summary>XLSX responses for both download surfaces: refused with a clear 400 above the configured row limit.</summary>
public static class XlsxDownload
{
    public static async Task<Results<EmptyHttpResult, ProblemHttpResult>> WriteAsync(HttpContext context, RowReader rows, PreparedRowQuery prepared, int maxRows,
        string fileName)
    {
        ProblemHttpResult? tooLong = null;
        var result = await StreamedDownload.RunAsync(context, async cancellationToken =>
        {
            // Count what would be sent ($skip, $top, $last applied), stopping just past the limit.
            if (await rows.CountReturnedAsync(prepared, maxRows + 1L, cancellationToken) > maxRows)
            {
                tooLong = Problems.BadRequest($"The download has more than {maxRows} rows; XLSX downloads are limited to {maxRows} rows. Use csv, which has no limit.");
                return;
            }
            // The package is complete in a temporary file before the first byte is sent, so a failed read is still a problem.
            await using var package = await rows.ExportXlsxAsync(prepared, cancellationToken);
            context.Response.ContentType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
            context.Response.Headers.ContentDisposition = $"attachment; filename=\"{fileName}.xlsx\"";
            context.Response.ContentLength = package.Length;
            await package.CopyToAsync(context.Response.Body, cancellationToken);
        });
        return tooLong ?? result;
    }
}
