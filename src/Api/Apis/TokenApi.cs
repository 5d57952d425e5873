using System.Text.Json.Serialization;
using DatasetPlatform.Api.Auth;
using DatasetPlatform.Grains.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using DatasetPlatform.Api.Reference;

namespace DatasetPlatform.Api.Apis;

public sealed record TokenResponse(
    [property: JsonPropertyName("access_token")] string AccessToken,
    [property: JsonPropertyName("token_type")] string TokenType,
    [property: JsonPropertyName("expires_in")] int ExpiresIn);

/// <summary>POST /connect/token: OAuth2 client credentials, where client_id is a key's id and client_secret the key itself.</summary>
public static class TokenApi
{
    public static IEndpointRouteBuilder MapTokenApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/connect/token", Issue).WithTags(ApiTags.Blocks).AllowAnonymous().DisableAntiforgery().WithBody(RequestBodies.Token)
            .WithSummary("Exchanges a key id and key for a one-hour Bearer access token (OAuth2 client credentials)")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized);
        return app;
    }

    public static async Task<Results<Ok<TokenResponse>, ProblemHttpResult>> Issue(HttpRequest request, KeyStore keys, SignedTokens tokens)
    {
        var fields = await RequestFields.ReadAsync(request);
        var grantType = fields.String("grant_type");
        var clientId = fields.String("client_id");
        var clientSecret = fields.String("client_secret");
        // RFC 6749 also lets clients send their credentials as HTTP Basic.
        var header = request.Headers.Authorization.ToString();
        // Both parts are form-encoded there (RFC 6749 2.3.1).
        if (clientSecret is null && BasicCredentials.TryParse(header, out var user, out var password) && password.Length > 0)
            (clientId, clientSecret) = (Uri.UnescapeDataString(user), Uri.UnescapeDataString(password));
        if (grantType != "client_credentials")
            return OAuthProblem(StatusCodes.Status400BadRequest, "unsupported_grant_type", "Only grant_type=client_credentials is supported.");
        if (string.IsNullOrEmpty(clientId) || string.IsNullOrEmpty(clientSecret))
            return OAuthProblem(StatusCodes.Status400BadRequest, "invalid_request", "Send client_id (the key id) and client_secret (the API key).");
        var key = await keys.VerifyAsync(clientSecret);
        if (key is null || key.Id != clientId)
            return OAuthProblem(StatusCodes.Status401Unauthorized, "invalid_client", "The client credentials are not valid.");

        var token = await AccessTokens.IssueAsync(tokens, key.Id, DateTimeOffset.UtcNow.Add(AccessTokens.Lifetime));
        return TypedResults.Ok(new TokenResponse(token, "Bearer", (int)AccessTokens.Lifetime.TotalSeconds));
    }

    /// <summary>A ProblemDetails that OAuth2 clients also understand (error, error_description).</summary>
    private static ProblemHttpResult OAuthProblem(int status, string error, string description)
    {
        var problem = Problems.Create(status, status == 401 ? "Unauthorized" : "Bad request", error.Replace('_', '-'), description);
        problem.ProblemDetails.Extensions["error"] = error;
        problem.ProblemDetails.Extensions["error_description"] = description;
        return problem;
    }
}
