using System.CommandLine;

namespace DatasetPlatform.Cli;

/// <summary>Options every command takes.</summary>
internal static class GlobalOptions
{
    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Print the API's JSON on stdout instead of tables (for scripts).",
        Recursive = true,
    };
}
