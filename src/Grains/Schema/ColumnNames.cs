using System.Globalization;
using System.Text;

namespace DatasetPlatform.Grains.Schema;

/// <summary>Column names match case- and accent-insensitively ("País" = "pais"), ignoring surrounding spaces.</summary>
public static class ColumnNames
{
    public static string Key(string name)
    {
        var decomposed = name.Trim().Normalize(NormalizationForm.FormD);
        var builder = new StringBuilder(decomposed.Length);
        foreach (var c in decomposed)
        {
            if (CharUnicodeInfo.GetUnicodeCategory(c) != UnicodeCategory.NonSpacingMark)
                builder.Append(char.ToLowerInvariant(c));
        }
        return builder.ToString().Normalize(NormalizationForm.FormC);
    }

    public static bool Same(string a, string b) => Key(a) == Key(b);
}
