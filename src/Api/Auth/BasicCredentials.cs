using System.Text;

namespace DatasetPlatform.Api.Auth;

/// <summary>Reads an HTTP Basic Authorization header into its user name and password.</summary>
public static class BasicCredentials
{
    /// <returns>False when the header is not Basic or not valid base64. Without a colon, everything is the user name.</returns>
    public static bool TryParse(string header, out string user, out string password)
    {
        user = password = "";
        if (!header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)) return false;
        string decoded;
        try { decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim())); }
        catch (FormatException) { return false; }
        var colon = decoded.IndexOf(':');
        user = colon < 0 ? decoded : decoded[..colon];
        password = colon < 0 ? "" : decoded[(colon + 1)..];
        return true;
    }
}
