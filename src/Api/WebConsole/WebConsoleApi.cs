using System.Collections.Frozen;
using System.Reflection;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Net.Http.Headers;

namespace DatasetPlatform.Api.WebConsole;

/// <summary>
/// The web console at /console: static HTML, CSS and ES modules embedded in this assembly (no build step, nothing fetched
/// from elsewhere). The files are anonymous; every data call the page makes carries the user's key and is authorized by the
/// API as any client's. A strict Content-Security-Policy (own origin only, no inline script or style) means that even a
/// value the page failed to escape could not run code or send data elsewhere.
/// </summary>
public static class WebConsoleApi
{
    public const string Path = "/console";
    private const string ResourcePrefix = "console/";

    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

    private static readonly FrozenDictionary<string, string> ContentTypes = new Dictionary<string, string>
    {
        [".html"] = "text/html; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".svg"] = "image/svg+xml",
    }.ToFrozenDictionary();

    private sealed record Asset(byte[] Content, string ContentType, string ETag);

    /// <summary>The console's files, read once: a few tens of kilobytes that ship inside the gateway.</summary>
    private static readonly Lazy<FrozenDictionary<string, Asset>> Assets = new(LoadAssets);

    public static IEndpointRouteBuilder MapWebConsoleApi(this IEndpointRouteBuilder app)
    {
        // One route for "/console", "/console/" and the files (routing matches "/console/" to "/console" too).
        app.MapGet(Path + "/{*file}", Serve).AllowAnonymous().ExcludeFromDescription();
        return app;
    }

    private static Results<RedirectHttpResult, NotFound, StatusCodeHttpResult, FileContentHttpResult> Serve(string? file, HttpContext context)
    {
        // The page loads its modules relative to itself, which only resolves under "/console/".
        if (context.Request.Path.Value == Path) return TypedResults.Redirect(context.Request.PathBase + Path + "/");
        var name = string.IsNullOrEmpty(file) ? "index.html" : file;
        if (!Assets.Value.TryGetValue(name, out var asset)) return TypedResults.NotFound();
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        // Revalidated on every load (cheap with the ETag), so a new gateway's console is used at once.
        headers.CacheControl = "no-cache";
        headers.ETag = asset.ETag;
        if (context.Request.Headers.IfNoneMatch.Contains(asset.ETag)) return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        return TypedResults.Bytes(asset.Content, asset.ContentType);
    }

    private static FrozenDictionary<string, Asset> LoadAssets()
    {
        var assembly = Assembly.GetExecutingAssembly();
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            var name = resource[ResourcePrefix.Length..];
            if (!ContentTypes.TryGetValue(System.IO.Path.GetExtension(name), out var contentType)) continue;
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var content = buffer.ToArray();
            var etag = new EntityTagHeaderValue("\"" + Convert.ToHexStringLower(SHA256.HashData(content))[..16] + "\"").ToString();
            assets[name] = new Asset(content, contentType, etag);
        }
        return assets.ToFrozenDictionary(StringComparer.Ordinal);
    }
}
