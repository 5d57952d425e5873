namespace DatasetPlatform.Cli;

/// <summary>A failure the CLI reports as one message and one exit code.</summary>
internal sealed class CliException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
