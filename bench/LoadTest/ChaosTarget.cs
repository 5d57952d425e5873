using System.Diagnostics;

namespace DatasetPlatform.LoadTest;

/// <summary>
/// Chooses which silo a chaos run kills: one that is running an import at that moment, found, not guessed. Every process of the service
/// names itself in pg_stat_activity ("name/pid"), and an import is a COPY into the dataset's table, so the candidate whose pid owns
/// an active COPY is the one to kill; with none found (or no PostgreSQL at hand), the first candidate.
/// </summary>
public static class ChaosTarget
{
    public static async Task<(int Pid, string Why)> PickAsync(IReadOnlyList<int> candidates, PsqlSettings? psql, CancellationToken cancellationToken)
    {
        if (psql is null) return (candidates[0], "the first candidate (no PostgreSQL access to find one running an import)");
        string output;
        try
        {
            output = await QueryAsync(psql,
                "SELECT application_name FROM pg_stat_activity WHERE state = 'active' AND query ILIKE 'COPY %' AND query NOT ILIKE '%TO STDOUT%'",
                cancellationToken);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or IOException)
        {
            return (candidates[0], $"the first candidate (pg_stat_activity not read: {e.Message})");
        }
        var running = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(name => int.TryParse(name[(name.LastIndexOf('/') + 1)..], out var pid) ? pid : 0)
            .ToHashSet();
        foreach (var pid in candidates)
            if (running.Contains(pid)) return (pid, "running an import (an active COPY in pg_stat_activity)");
        return (candidates[0], "the first candidate (none was running an import at that moment)");
    }

    private static async Task<string> QueryAsync(PsqlSettings psql, string sql, CancellationToken cancellationToken)
    {
        using var process = psql.StartPsql(sql, "-At");
        var output = await process.StandardOutput.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0) throw new InvalidOperationException($"psql exited {process.ExitCode}: {await process.StandardError.ReadToEndAsync(cancellationToken)}");
        return output;
    }
}
