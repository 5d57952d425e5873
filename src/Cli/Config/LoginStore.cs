using System.Text.Json;

namespace DatasetPlatform.Cli.Config;

/// <summary>The service URL and API key saved by `dp login`.</summary>
internal sealed record StoredLogin(string Url, string Key);

/// <summary>
/// ~/.config/dp/config.json (or $XDG_CONFIG_HOME/dp/config.json). The file holds a secret, so it is created with mode 600
/// (its directory 700) and replaced through a new file created that way, never rewritten in place with wider rights.
/// </summary>
internal static class LoginStore
{
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerOnlyDirectory = OwnerOnlyFile | UnixFileMode.UserExecute;

    public static string FilePath
    {
        get
        {
            var configHome = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME");
            if (string.IsNullOrEmpty(configHome))
                configHome = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config");
            return Path.Combine(configHome, "dp", "config.json");
        }
    }

    public static StoredLogin? Read()
    {
        var path = FilePath;
        if (!File.Exists(path)) return null;
        try
        {
            var login = JsonSerializer.Deserialize<StoredLogin>(File.ReadAllText(path), JsonSerializerOptions.Web);
            return login is { Url.Length: > 0, Key.Length: > 0 } ? login : null;
        }
        catch (JsonException e)
        {
            throw new CliException(ExitCodes.Auth, $"{path} is not valid JSON ({e.Message}); run `dp login` again.");
        }
    }

    public static void Write(StoredLogin login)
    {
        var path = FilePath;
        var directory = Path.GetDirectoryName(path)!;
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(directory);
        else Directory.CreateDirectory(directory, OwnerOnlyDirectory);
        var temporary = path + "." + Environment.ProcessId + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = OwnerOnlyFile;
        using (var stream = new FileStream(temporary, options))
        {
            JsonSerializer.Serialize(stream, login, JsonSerializerOptions.Web);
        }
        File.Move(temporary, path, overwrite: true);
    }

    public static bool Delete()
    {
        var path = FilePath;
        if (!File.Exists(path)) return false;
        File.Delete(path);
        return true;
    }
}
