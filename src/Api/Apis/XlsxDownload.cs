using DatasetPlatform.Grains.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace DatasetPlatform.Api.Apis;

/// <summary>XLSX responses for both download surfaces: refused with a clear 400 above the configured row limit.</summary>
public static class XlsxDownload
{
    public static async Task<ProblemHttpResult?> WriteAsync(HttpContext context, RowReader rows, PreparedRowQuery prepared, RowQuery query, int maxRows,
        string fileName)
    {
        // What would be sent: the matching rows, after $skip, and at most $top / $last of them.
        var count = Math.Max(0, await rows.CountAsync(prepared) - (query.Skip ?? 0));
        if (query.Top is { } top) count = Math.Min(count, top);
        if (query.Last is { } last) count = Math.Min(count, last);
        if (count > maxRows)
            return Problems.BadRequest($"The dataset has {count} rows; XLSX downloads are limited to {maxRows} rows. Use csv, which has no limit.");
        await using var package = await rows.ExportXlsxAsync(prepared, context.RequestAborted);
        context.Response.ContentType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
        context.Response.Headers.ContentDisposition = $"attachment; filename=\"{fileName}.xlsx\"";
        context.Response.ContentLength = package.Length;
        await package.CopyToAsync(context.Response.Body, context.RequestAborted);
        return null;
    }
}
