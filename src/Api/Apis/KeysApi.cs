using System.Security.Claims;
using DatasetPlatform.Api.Auth;
using DatasetPlatform.Api.Hosting;
using DatasetPlatform.Grains.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using DatasetPlatform.Api.Reference;

namespace DatasetPlatform.Api.Apis;

/// <summary>API keys. Only admin keys manage keys; the secret is shown once, in the create response.</summary>
public static class KeysApi
{
    public static IEndpointRouteBuilder MapKeysApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/keys").WithTags(ApiTags.Keys);
        group.MapPost("", Create).DisableAntiforgery().WithBody(RequestBodies.CreateKey)
            .WithSummary("Creates a key (admin keys only); the answer shows the key once").ProducesProblems(StatusCodes.Status403Forbidden);
        group.MapGet("", List).Paged().WithSummary("Lists the keys, revoked ones too (admin keys only)")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status403Forbidden);
        group.MapDelete("/{keyId}", Revoke).WithSummary("Revokes a key and its access tokens, at once on every gateway (admin keys only)")
            .ProducesProblems(StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound);
        return app;
    }

    public static async Task<Results<Created<KeyResponse>, ProblemHttpResult>> Create(HttpRequest request, ClaimsPrincipal user, KeyStore keys)
    {
        var caller = Caller.From(user);
        if (!caller.IsAdmin) return Problems.Forbidden("Only admin keys can create keys.");
        var fields = await RequestFields.ReadAsync(request);
        var name = fields.String("name")?.Trim();
        if (string.IsNullOrEmpty(name)) return Problems.BadRequest("The key needs a name.", new Dictionary<string, string[]> { ["name"] = ["Required."] });
        bool isAdmin;
        try { isAdmin = RequestFields.ParseBool(fields.String("isAdmin") ?? fields.String("admin")) ?? false; }
        catch (FormatException) { return Problems.BadRequest("isAdmin must be true or false."); }
        var issued = await keys.CreateAsync(name, isAdmin, caller.KeyId);
        return TypedResults.Created($"/keys/{issued.Id}", new KeyResponse(issued.Id, issued.Name, issued.IsAdmin, DateTime.UtcNow, null, issued.Key));
    }

    public static async Task<Results<Ok<List<KeyResponse>>, ProblemHttpResult>> List(HttpContext context, ClaimsPrincipal user, KeyStore keys,
        IOptions<PlatformOptions> options)
    {
        if (!Caller.From(user).IsAdmin) return Problems.Forbidden("Only admin keys can list keys.");
        if (!ListPage.TryParse(context.Request, options.Value, out var page, out var problem)) return problem!;
        var (rows, total) = await keys.ListAsync(page.Limit, page.Offset);
        page.WriteHeaders(context.Response, total);
        return TypedResults.Ok(rows.Select(k => new KeyResponse(k.Id, k.Name, k.IsAdmin, k.CreatedAt, k.RevokedAt)).ToList());
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> Revoke(string keyId, ClaimsPrincipal user, KeyStore keys, IMemoryCache cache)
    {
        if (!Caller.From(user).IsAdmin) return Problems.Forbidden("Only admin keys can revoke keys.");
        if (!await keys.RevokeAsync(keyId)) return Problems.NotFound($"Key '{keyId}' does not exist or is already revoked.");
        ApiKeyAuthenticationHandler.ForgetRevokedKey(cache, keyId);
        return TypedResults.NoContent();
    }
}
