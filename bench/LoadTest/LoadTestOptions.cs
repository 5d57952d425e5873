namespace DatasetPlatform.LoadTest;

/// <summary>One run's settings: a scenario (with any override applied) and where and how to run it.</summary>
public sealed record LoadTestOptions(Scenario Scenario)
{
    /// <summary>Give up waiting for imports (and stop retrying busy answers) this long after the load started.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>Run the two-stream psql \copy baseline against this PostgreSQL (embedded mode: the harness started it).</summary>
    public PsqlSettings? CopyBaseline { get; init; }

    /// <summary>Rows of each of the two \copy streams; null: half the scenario's rows, between 100k and 1M.</summary>
    public long? CopyRowsPerStream { get; init; }

    /// <summary>Chaos: these processes are killed (SIGKILL) once <see cref="KillAfter"/> of the uploads are acknowledged.</summary>
    public IReadOnlyList<int> KillPids { get; init; } = [];

    public double KillAfter { get; init; } = 1.0 / 3;

    /// <summary>Chaos: one of these processes is killed (SIGKILL) at that moment, the one running an import if PostgreSQL says which (<see cref="ChaosTarget"/>).</summary>
    public IReadOnlyList<int> KillOneOf { get; init; } = [];

    /// <summary>What is under load, for the report: "embedded (one process)", the URLs, silo count.</summary>
    public string Target { get; init; } = "";

    public string Silos { get; init; } = "unknown";

    /// <summary>The service's processes, whose CPU the report shows per upload (bench/load.sh passes what it started).</summary>
    public IReadOnlyList<int> ServicePids { get; init; } = [];

    /// <summary>The PostgreSQL postmaster: its CPU and its backends' count in the report's CPU per upload.</summary>
    public IReadOnlyList<int> PostgresPids { get; init; } = [];

    /// <summary>Datasets that get the scenario's uploads before the measured load, neither measured nor verified (0: none).</summary>
    public int WarmupDatasets { get; init; }

    /// <summary>A remark for the results file (e.g. that the machine was shared).</summary>
    public string? Note { get; init; }
}

/// <summary>How to reach PostgreSQL with psql (the variables scripts/postgres.sh exports).</summary>
public sealed record PsqlSettings(string Bin, string Host, string Port, string User, string Password, string Database)
{
    /// <summary>From DP_PG_BIN, DP_PG_HOST, DP_PG_PORT, DP_PG_USER, DP_PG_PASSWORD, DP_PG_DB; null when any is missing.</summary>
    public static PsqlSettings? FromEnvironment()
    {
        string? Get(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;
        var (bin, port, user, password, db) = (Get("DP_PG_BIN"), Get("DP_PG_PORT"), Get("DP_PG_USER"), Get("DP_PG_PASSWORD"), Get("DP_PG_DB"));
        if (bin is null || port is null || user is null || password is null || db is null) return null;
        return new PsqlSettings(bin, Get("DP_PG_HOST") ?? "127.0.0.1", port, user, password, db);
    }

    /// <summary>Starts psql running one <paramref name="command"/> against this database (stop on the first error), output redirected.</summary>
    public System.Diagnostics.Process StartPsql(string command, string outputFlag, bool redirectInput = false)
    {
        var start = new System.Diagnostics.ProcessStartInfo(Path.Combine(Bin, "psql"))
        {
            RedirectStandardInput = redirectInput,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "-X", outputFlag, "-v", "ON_ERROR_STOP=1", "-h", Host, "-p", Port, "-U", User, "-d", Database, "-c", command })
            start.ArgumentList.Add(argument);
        start.Environment["PGPASSWORD"] = Password;
        return System.Diagnostics.Process.Start(start) ?? throw new InvalidOperationException("psql did not start");
    }
}
