namespace DatasetPlatform.Cli;

/// <summary>What a script can tell apart from `dp`'s exit status.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>Anything not listed below: a 400 or 5xx from the API, a network failure, a timeout.</summary>
    public const int Error = 1;
    /// <summary>The command line is wrong (unknown command or option, missing argument, unreadable input file).</summary>
    public const int Usage = 2;
    /// <summary>No key, or the API refused it (401) or refused the action to it (403).</summary>
    public const int Auth = 3;
    /// <summary>The repository, dataset, import or version does not exist (or is not visible to the key).</summary>
    public const int NotFound = 4;
    /// <summary>The upload was received but its import failed (bad file, no schema): the dataset is as it was.</summary>
    public const int ImportFailed = 5;
    /// <summary>A V4 import ended partial: the valid records are loaded, the others rejected (listed on stderr).</summary>
    public const int ImportPartial = 6;
}
