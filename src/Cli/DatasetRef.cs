using System.Globalization;

namespace DatasetPlatform.Cli;

/// <summary>
/// A dataset as the user names it: its numeric id (every surface) or its uid (the seed-004 id that `dp datasets list
/// --search` shows, accepted by the versioned-dataset routes).
/// </summary>
internal sealed record DatasetRef(string Text, long? Id)
{
    public static DatasetRef Parse(string text)
    {
        text = text.Trim();
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id)) return new(text, id);
        if (Guid.TryParse(text, out _)) return new(text, null);
        throw new CliException(ExitCodes.Usage, $"'{text}' is not a dataset id (a number, or a uid as `dp datasets list --search` shows).");
    }

    /// <summary>The numeric id, which the Alphacast, V4 and Data8 routes need.</summary>
    public long RequireId(string what) => Id ?? throw new CliException(ExitCodes.Usage,
        $"{what} needs the dataset's numeric id (see `dp datasets list`); '{Text}' is a uid.");

    public string Escaped => Uri.EscapeDataString(Text);
}
