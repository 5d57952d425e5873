using System.Security.Claims;
using DatasetPlatform.Api.Auth;
using DatasetPlatform.Grains.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using DatasetPlatform.Api.Hosting;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using DatasetPlatform.Api.Reference;

namespace DatasetPlatform.Api.Apis;

/// <summary>
/// GET /datasets/{id}/data: the dataset's rows as CSV, TSV or JSON lines, filtered and paged OData-style.
/// The query is checked first (a bad one is a 400); then PostgreSQL's COPY output streams to the response
/// (see <see cref="StreamedDownload"/> for what a failure looks like).
/// </summary>
public static class DataApi
{
    public static IEndpointRouteBuilder MapDataApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/datasets/{id:long}/data", Download).WithTags(ApiTags.Alphacast).RequireDownloadSlot()
            .WithSummary("Downloads the rows (CSV, TSV, JSON lines or XLSX), filtered and paged OData-style; any earlier version with ?version")
            .ProducesFile("The rows, streamed.", ["text/csv", "text/tab-separated-values", "application/x-ndjson",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"], "Content-Disposition", "Row-Count")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    public static async Task<Results<EmptyHttpResult, ProblemHttpResult>> Download(
        long id, HttpContext context, ClaimsPrincipal user, DatasetAccess access, RowReader rows, IOptions<PlatformOptions> options,
        [FromQuery(Name = "$format")] string? format,
        [FromQuery(Name = "$filter")] string? filter,
        [FromQuery(Name = "$select")] string? select,
        [FromQuery(Name = "$top")] string? top,
        [FromQuery(Name = "$skip")] string? skip,
        [FromQuery(Name = "$last")] string? last,
        [FromQuery(Name = "version")] string? version)
    {
        var (dataset, _, problem) = await access.ResolveAsync(id, Caller.From(user), RepositoryRole.Read);
        if (problem is not null) return problem;

        RowFormat rowFormat;
        var xlsx = false;
        switch (format?.Trim().ToLowerInvariant())
        {
            case null or "" or "csv": rowFormat = RowFormat.Csv; break;
            case "tsv": rowFormat = RowFormat.Tsv; break;
            case "json": rowFormat = RowFormat.Json; break;
            case "xlsx": rowFormat = RowFormat.Xlsx; xlsx = true; break;
            default: return Problems.BadRequest($"Unknown $format '{format}'. Use csv, tsv, json or xlsx.");
        }
        var errors = new Dictionary<string, string[]>();
        long? Number(string? value, string name)
        {
            if (string.IsNullOrWhiteSpace(value)) return null;
            if (long.TryParse(value, out var n) && n >= 0) return n;
            errors[name] = [$"{name} must be a whole number of at least 0."];
            return null;
        }
        var query = new RowQuery(dataset!, rowFormat, filter,
            select?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => s.Trim('\'', '"')).ToList(),
            Number(top, "$top"), Number(skip, "$skip"), Number(last, "$last"), Number(version, "version") is { } v ? (v <= int.MaxValue ? (int)v : -1) : null);
        if (query.Version < 0) errors["version"] = ["version must be a version number (0, 1, ...)."];
        if (errors.Count > 0) return Problems.BadRequest(string.Join(" ", errors.Values.SelectMany(v => v)), errors);

        PreparedRowQuery prepared;
        try { prepared = await rows.PrepareAsync(query, context.RequestAborted); }
        catch (RowQueryException e) { return Problems.BadRequest(e.Message, new Dictionary<string, string[]> { ["query"] = [e.Message] }); }

        if (xlsx) return await XlsxDownload.WriteAsync(context, rows, prepared, options.Value, $"dataset-{id}");

        return await StreamedDownload.RunAsync(context, async cancellationToken =>
        {
            var response = context.Response;
            if (query.Top is not null)
                response.Headers["Row-Count"] = (await rows.CountAsync(prepared, cancellationToken)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            response.ContentType = rowFormat switch
            {
                RowFormat.Tsv => "text/tab-separated-values; charset=utf-8",
                RowFormat.Json => "application/x-ndjson; charset=utf-8",
                _ => "text/csv; charset=utf-8",
            };
            response.Headers.ContentDisposition = $"attachment; filename=\"dataset-{id}.{rowFormat.ToString().ToLowerInvariant()}\"";
            await rows.CopyToAsync(prepared, response.Body, cancellationToken);
        });
    }
}
