using System.Text.Json;
using DatasetPlatform.Api.Apis;

namespace DatasetPlatform.Api.Auth;

/// <summary>
/// Endpoint metadata for the cross-site guard: <see cref="Allow"/> exempts an endpoint that takes no ambient credential
/// (the presigned PUT, whose URL is its own credential); <see cref="Guard"/> protects a GET that changes state.
/// </summary>
public sealed record CrossSiteRequests(bool Allowed)
{
    public static readonly CrossSiteRequests Allow = new(true);
    public static readonly CrossSiteRequests Guard = new(false);
}

/// <summary>
/// Refuses state-changing requests that a browser sent on behalf of another site (CSRF). A browser that has seen our
/// Basic challenge (the dashboard login) resends the key by itself, so a form on any web page could otherwise create
/// keys or delete datasets with an admin's rights. Browsers mark such requests with <c>Sec-Fetch-Site</c> and
/// <c>Origin</c>; API clients (curl, Python requests, the Alphacast SDK) send neither, so they are unaffected.
/// Cross-origin browser applications that add their own Authorization header are unaffected too in practice: that
/// header makes the browser ask CORS first, and the gateway grants CORS to no one except the presigned PUT.
/// </summary>
public sealed class CrossSiteRequestGuard(RequestDelegate next)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var metadata = context.GetEndpoint()?.Metadata.GetMetadata<CrossSiteRequests>();
        var changesState = !(HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method)
            || HttpMethods.IsOptions(context.Request.Method) || HttpMethods.IsTrace(context.Request.Method)) || metadata == CrossSiteRequests.Guard;
        if (changesState && metadata != CrossSiteRequests.Allow && RefusalReason(context.Request) is { } reason)
        {
            var problem = (Microsoft.AspNetCore.Mvc.ProblemDetails)Problems.Create(StatusCodes.Status403Forbidden, "Cross-site request refused",
                "cross-site-request", reason).ProblemDetails;
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            context.Response.ContentType = "application/problem+json";
            await JsonSerializer.SerializeAsync(context.Response.Body, problem, JsonSerializerOptions.Web);
            return;
        }
        await next(context);
    }

    /// <summary>Why the request looks forged by another site; null when it came from us, from the user, or from a non-browser client.</summary>
    public static string? RefusalReason(HttpRequest request)
    {
        var fetchSite = request.Headers["Sec-Fetch-Site"].ToString();
        // same-site is refused too: a sibling subdomain is another application, not this gateway.
        if (fetchSite.Length > 0 && !fetchSite.Equals("same-origin", StringComparison.OrdinalIgnoreCase) && !fetchSite.Equals("none", StringComparison.OrdinalIgnoreCase))
            return $"The browser marked this {request.Method} as sent from another site (Sec-Fetch-Site: {fetchSite}); state-changing requests are only accepted "
                + "from API clients or from this service's own pages.";
        var origin = request.Headers.Origin.ToString();
        if (origin.Length > 0 && !IsOwnOrigin(origin, request))
            return $"This {request.Method} comes from the web page at origin '{origin}', which is not this service's origin; state-changing requests are only "
                + "accepted from API clients or from this service's own pages.";
        return null;
    }

    /// <summary>
    /// Same host and port as the request was addressed to. The scheme is not compared, so a TLS-terminating proxy in front of
    /// the gateway does not turn its own pages into strangers; a Host header without a port means the scheme's default port,
    /// so the origin must name none either (another application on the same host's port 8080 is another origin).
    /// "null" (sandboxed frames, file: pages) is foreign.
    /// </summary>
    private static bool IsOwnOrigin(string origin, HttpRequest request)
    {
        if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || !request.Host.HasValue) return false;
        return uri.Host.Equals(request.Host.Host, StringComparison.OrdinalIgnoreCase)
            && (request.Host.Port is { } port ? uri.Port == port : uri.IsDefaultPort);
    }
}
