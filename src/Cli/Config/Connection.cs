namespace DatasetPlatform.Cli.Config;

/// <summary>Where to connect and with which key: DP_URL and DP_API_KEY win over what `dp login` saved.</summary>
internal sealed record Connection(Uri Url, string Key)
{
    public const string DefaultUrl = "http://localhost:5080";

    public static Connection Resolve()
    {
        var stored = LoginStore.Read();
        var url = Environment.GetEnvironmentVariable("DP_URL") is { Length: > 0 } envUrl ? envUrl : stored?.Url ?? DefaultUrl;
        var key = Environment.GetEnvironmentVariable("DP_API_KEY") is { Length: > 0 } envKey ? envKey : stored?.Key;
        if (string.IsNullOrEmpty(key))
            throw new CliException(ExitCodes.Auth, "Not logged in: run `dp login --url URL --key KEY`, or set DP_API_KEY.");
        return new Connection(ParseUrl(url), key);
    }

    public static Uri ParseUrl(string url)
    {
        if (!Uri.TryCreate(url.TrimEnd('/') + "/", UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new CliException(ExitCodes.Usage, $"'{url}' is not an http(s) URL.");
        return uri;
    }
}
