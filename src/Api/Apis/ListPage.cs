using System.Globalization;
using DatasetPlatform.Api.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.WebUtilities;

namespace DatasetPlatform.Api.Apis;

/// <summary>One page of a list: at most <see cref="Limit"/> items after skipping <see cref="Offset"/>.</summary>
public sealed record ListPage(int Limit, int Offset)
{
    /// <summary>
    /// Reads ?limit and ?offset. Missing values take the defaults; anything else that is not a whole number in range is a
    /// 400 naming the parameter, so a client never silently gets a different page than it asked for.
    /// </summary>
    public static bool TryParse(HttpRequest request, int defaultLimit, int maxLimit, out ListPage page, out ProblemHttpResult? problem)
    {
        var errors = new Dictionary<string, string[]>();
        var limit = Parse(request, "limit", defaultLimit, 1, maxLimit, errors);
        var offset = Parse(request, "offset", 0, 0, int.MaxValue, errors);
        page = new ListPage(limit, offset);
        problem = errors.Count == 0 ? null
            : Problems.BadRequest(string.Join(" ", errors.Select(e => $"{e.Key}: {e.Value[0]}")), errors);
        return problem is null;
    }

    /// <summary>The gateway-wide page bounds (DP_PAGE_SIZE, DP_MAX_PAGE_SIZE) for lists whose seed sets none.</summary>
    public static bool TryParse(HttpRequest request, PlatformOptions options, out ListPage page, out ProblemHttpResult? problem) =>
        TryParse(request, options.DefaultPageSize, options.MaxPageSize, out page, out problem);

    private static int Parse(HttpRequest request, string name, int fallback, int min, int max, Dictionary<string, string[]> errors)
    {
        var values = request.Query[name];
        if (values.Count == 0) return fallback;
        if (values.Count == 1 && int.TryParse(values[0], NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max) return n;
        errors[name] = [max == int.MaxValue ? $"A whole number of at least {min}." : $"A whole number from {min} to {max}."];
        return fallback;
    }

    /// <summary>
    /// Says what is left without changing the body's shape: X-Total-Count, and a Link to the next page (the same URL with
    /// the offset moved on) while items remain.
    /// </summary>
    public void WriteHeaders(HttpResponse response, long total)
    {
        response.Headers["X-Total-Count"] = total.ToString(CultureInfo.InvariantCulture);
        var next = (long)Offset + Limit;
        if (next >= total || next > int.MaxValue) return;
        var request = response.HttpContext.Request;
        var query = QueryHelpers.ParseQuery(request.QueryString.Value)
            .Where(p => p.Key is not ("limit" or "offset"))
            .SelectMany(p => p.Value.Select(v => new KeyValuePair<string, string?>(p.Key, v)))
            .Append(new("limit", Limit.ToString(CultureInfo.InvariantCulture)))
            .Append(new("offset", next.ToString(CultureInfo.InvariantCulture)));
        var url = QueryHelpers.AddQueryString($"{request.Scheme}://{request.Host}{request.PathBase}{request.Path}", query);
        response.Headers.Link = $"<{url}>; rel=\"next\"";
    }
}
