using Microsoft.OpenApi;

namespace DatasetPlatform.Api.Reference;

/// <summary>
/// The ways a key may be sent, as <see cref="Auth.ApiKeyAuthenticationHandler"/> accepts them; any one of them is enough, so
/// each is a requirement of its own (OpenAPI ORs the entries of an operation's security list).
/// </summary>
public static class ApiSecuritySchemes
{
    public const string Basic = "basic";
    public const string Bearer = "bearer";
    public const string Token = "token";
    public const string QueryKey = "apiKey";

    private static readonly (string Id, OpenApiSecurityScheme Scheme)[] All =
    [
        (Basic, new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "basic",
            Description = "The API key as the user name with an empty password, as the Alphacast SDK sends it (`curl -u \"$KEY:\"`); "
                + "the key as the password with any user name works too.",
        }),
        (Bearer, new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = "`Authorization: Bearer <key>`, or an access token from `POST /connect/token` (Data8, seed 004).",
        }),
        (Token, new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.ApiKey,
            In = ParameterLocation.Header,
            Name = "Authorization",
            Description = "`Authorization: Token <key>`, as Prolific's V4 clients send it: the value is the word Token, a space, and the key.",
        }),
        (QueryKey, new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.ApiKey,
            In = ParameterLocation.Query,
            Name = "apiKey",
            Description = "`?apiKey=<key>` in the query string (Alphacast). Query strings end up in logs: prefer a header.",
        }),
    ];

    public static IEnumerable<string> Ids => All.Select(s => s.Id);

    /// <summary>Adds the schemes to the document's components unless they are there already.</summary>
    public static void Register(OpenApiDocument document)
    {
        document.Components ??= new OpenApiComponents();
        foreach (var (id, scheme) in All)
        {
            if (document.Components.SecuritySchemes?.ContainsKey(id) == true) continue;
            document.AddComponent(id, scheme);
        }
    }

    /// <summary>The security list of an operation that needs a key: any one of the schemes.</summary>
    public static List<OpenApiSecurityRequirement> AnyKey(OpenApiDocument document)
    {
        Register(document);
        return [.. All.Select(s => new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(s.Id, document)] = [] })];
    }
}
