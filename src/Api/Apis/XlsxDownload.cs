using DatasetPlatform.Api.Hosting;
using DatasetPlatform.Grains.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace DatasetPlatform.Api.Apis;

/// <summary>XLSX responses for both download surfaces: refused with a clear 400 above the configured row or cell limit.</summary>
public static class XlsxDownload
{
    public static async Task<Results<EmptyHttpResult, ProblemHttpResult>> WriteAsync(HttpContext context, RowReader rows, PreparedRowQuery prepared,
        PlatformOptions limits, string fileName)
    {
        // The workbook is built whole before it is sent, so its size is bounded in cells, not only in rows: a wide dataset gets fewer rows.
        var columns = Math.Max(1, prepared.Columns.Count);
        var maxRows = (int)Math.Min(limits.MaxXlsxRows, limits.MaxXlsxCells / columns);
        var byCells = maxRows < limits.MaxXlsxRows;
        ProblemHttpResult? tooLarge = null;
        var result = await StreamedDownload.RunAsync(context, async cancellationToken =>
        {
            // Count what would be sent ($skip, $top, $last applied), stopping just past the limit.
            if (maxRows == 0 || await rows.CountReturnedAsync(prepared, maxRows + 1L, cancellationToken) > maxRows)
            {
                tooLarge = Problems.BadRequest(byCells
                    ? $"The download has more than {maxRows} rows of {columns} columns; XLSX downloads are limited to {limits.MaxXlsxCells} cells "
                        + "(MAX_XLSX_CELLS). Select fewer columns or rows, or use csv, which has no limit."
                    : $"The download has more than {maxRows} rows; XLSX downloads are limited to {maxRows} rows. Use csv, which has no limit.");
                return;
            }
            // The package is complete in a temporary file before the first byte is sent, so a failed read is still a problem.
            await using var package = await rows.ExportXlsxAsync(prepared, cancellationToken);
            context.Response.ContentType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
            context.Response.Headers.ContentDisposition = $"attachment; filename=\"{fileName}.xlsx\"";
            context.Response.ContentLength = package.Length;
            await package.CopyToAsync(context.Response.Body, cancellationToken);
        });
        return tooLarge ?? result;
    }
}
