using System.Globalization;
using DatasetPlatform.Grains.Storage;

namespace DatasetPlatform.Api.Auth;

/// <summary>
/// OAuth2 client-credentials access tokens (Data8 style): "dpt." + a signed "keyId:expiry". They carry no secret;
/// a revoked key invalidates its tokens because verification looks the key up.
/// </summary>
public static class AccessTokens
{
    public const string Prefix = "dpt.";
    public const string Purpose = "access-token";
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(1);

    public static async Task<string> IssueAsync(SignedTokens tokens, string keyId, DateTimeOffset expiresAt) =>
        Prefix + await tokens.SignAsync(Purpose, $"{keyId}:{expiresAt.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)}");

    public static async Task<ApiKeyRow?> VerifyAsync(SignedTokens tokens, KeyStore keys, string token)
    {
        var payload = await tokens.VerifyAsync(Purpose, token[Prefix.Length..]);
        if (payload?.Split(':') is not [var keyId, var expiresText] || !long.TryParse(expiresText, out var expires)) return null;
        if (DateTimeOffset.UtcNow.ToUnixTimeSeconds() >= expires) return null;
        return await keys.GetActiveAsync(keyId);
    }
}
