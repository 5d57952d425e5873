using System.Security.Claims;

namespace DatasetPlatform.Api.Auth;

/// <summary>The authenticated API key behind a request.</summary>
public sealed record Caller(string KeyId, string Name, bool IsAdmin)
{
    public const string KeyIdClaim = "dp:key";
    public const string AdminClaim = "dp:admin";

    public static Caller From(ClaimsPrincipal user) => new(
        user.FindFirstValue(KeyIdClaim) ?? throw new InvalidOperationException("The request is not authenticated."),
        user.Identity?.Name ?? "",
        user.HasClaim(AdminClaim, "true"));
}
