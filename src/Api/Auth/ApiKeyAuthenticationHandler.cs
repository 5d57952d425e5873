using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using DatasetPlatform.Api.Apis;
using DatasetPlatform.Grains.Storage;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace DatasetPlatform.Api.Auth;

/// <summary>
/// Accepts an API key however a client of one of our surfaces sends it: Basic (key as user name, empty
/// password; Alphacast), ?apiKey= (Alphacast), "Token key" (Prolific) and "Bearer key" (Data8, seed 004).
/// Verified keys are cached briefly so a burst of requests costs one lookup.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    KeyStore keys,
    SignedTokens tokens,
    IMemoryCache cache) : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string DashboardPath = "/dashboard";
    /// <summary>How long a verified key is cached: the longest a revocation can go unnoticed while <see cref="RevokedKeyListener"/> is down.</summary>
    public static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(30);

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var presented = PresentedKey(Request);
        if (presented is null) return AuthenticateResult.NoResult();
        var cacheKey = "key:" + Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(presented)));
        if (!cache.TryGetValue(cacheKey, out ApiKeyRow? row))
        {
            row = presented.StartsWith(AccessTokens.Prefix, StringComparison.Ordinal)
                ? await AccessTokens.VerifyAsync(tokens, keys, presented)
                : await keys.VerifyAsync(presented);
            cache.Set(cacheKey, row, CacheFor);
        }
        // A revoked key stops working at once (revoked here, or announced by RevokedKeyListener), not when its cache entry expires.
        if (row is not null && cache.TryGetValue(RevokedCacheKey(row.Id), out _)) row = null;
        if (row is null) return AuthenticateResult.Fail("Invalid or expired API key or access token.");
        var identity = new ClaimsIdentity(
        [
            new Claim(ClaimTypes.Name, row.Name),
            new Claim(Caller.KeyIdClaim, row.Id),
            new Claim(Caller.AdminClaim, row.IsAdmin ? "true" : "false"),
        ], SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    /// <summary>
    /// Makes this gateway refuse the key (and its access tokens) at once, although verified keys are cached for a while: called
    /// by the gateway that revokes it, and on every gateway by <see cref="RevokedKeyListener"/> when the revocation is announced.
    /// The mark lasts as long as a cache entry, so it outlives every entry cached before the revocation.
    /// </summary>
    public static void ForgetRevokedKey(IMemoryCache cache, string keyId) => cache.Set(RevokedCacheKey(keyId), true, CacheFor);

    private static string RevokedCacheKey(string keyId) => "revoked:" + keyId;

    private static string? PresentedKey(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            if (!BasicCredentials.TryParse(header, out var user, out var password)) return null;
            return user.Length > 0 ? user : password.Length > 0 ? password : null;
        }
        foreach (var scheme in (string[])["Bearer ", "Token "])
        {
            if (header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return header[scheme.Length..].Trim();
        }
        var query = request.Query["apiKey"].ToString();
        return query.Length > 0 ? query : null;
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        // Only the dashboard, which people open in a browser, asks for Basic: a Basic challenge makes the browser keep the key
        // and resend it to this origin by itself, which is what cross-site request forgery feeds on (CrossSiteRequestGuard).
        // API clients send their key up front and need no Basic challenge.
        Response.Headers.WWWAuthenticate = Request.Path.StartsWithSegments(DashboardPath)
            ? "Basic realm=\"DatasetPlatform dashboard\", charset=\"UTF-8\""
            : "Bearer realm=\"DatasetPlatform\"";
        var failed = Request.Headers.Authorization.Count > 0 || Request.Query.ContainsKey("apiKey");
        await WriteProblemAsync(StatusCodes.Status401Unauthorized, "Unauthorized", "unauthorized",
            failed ? "The API key or access token is invalid, expired or revoked." : "An API key is required (HTTP Basic with the key as user name, or ?apiKey=).");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        WriteProblemAsync(StatusCodes.Status403Forbidden, "Forbidden", "forbidden", "This API key may not do that.");

    private async Task WriteProblemAsync(int status, string title, string type, string detail)
    {
        var problem = (Microsoft.AspNetCore.Mvc.ProblemDetails)Problems.Create(status, title, type, detail).ProblemDetails;
        Response.StatusCode = status;
        Response.ContentType = "application/problem+json";
        await JsonSerializer.SerializeAsync(Response.Body, problem, JsonSerializerOptions.Web);
    }
}
