using System.Globalization;

namespace DatasetPlatform.LoadTest;

/// <summary>
/// CPU seconds (user + system) that processes have used, from /proc: on a machine shared with others, wall time says little,
/// CPU spent per upload does. A group counts its processes, their live children (PostgreSQL's backends under the postmaster) and
/// the children they reaped (a backend that ended). Zero where /proc cannot be read (not Linux).
/// </summary>
public static class ProcessCpu
{
    private static readonly double TicksPerSecond = 100; // USER_HZ: 100 on every Linux .NET runs on

    /// <summary>CPU seconds of <paramref name="pids"/> and their children so far.</summary>
    public static double Seconds(IEnumerable<int> pids)
    {
        var roots = pids.ToHashSet();
        if (roots.Count == 0) return 0;
        double ticks = 0;
        foreach (var stat in AllStats())
        {
            if (roots.Contains(stat.Pid) || roots.Contains(stat.ParentPid)) ticks += stat.Own + stat.Reaped;
        }
        return ticks / TicksPerSecond;
    }

    /// <summary>This process's CPU seconds (the load client), with the psql children it reaped.</summary>
    public static double Self()
    {
        var stat = Read($"/proc/{Environment.ProcessId}/stat");
        return stat is null ? System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds : (stat.Value.Own + stat.Value.Reaped) / TicksPerSecond;
    }

    /// <summary>CPU seconds so far of the service's processes, this load client and PostgreSQL; subtract two of these for a phase.</summary>
    public static CpuUse Now(LoadTestOptions options) => new(Seconds(options.ServicePids), Self(), Seconds(options.PostgresPids));

    private readonly record struct Stat(int Pid, int ParentPid, long Own, long Reaped);

    private static IEnumerable<Stat> AllStats()
    {
        IEnumerable<string> directories;
        try { directories = Directory.EnumerateDirectories("/proc"); }
        catch (IOException) { yield break; }
        catch (UnauthorizedAccessException) { yield break; }
        foreach (var directory in directories)
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out _)) continue;
            if (Read(Path.Combine(directory, "stat")) is { } stat) yield return stat;
        }
    }

    /// <summary>Fields 4 (ppid) and 14-17 (utime, stime, cutime, cstime) of /proc/PID/stat; the name, field 2, may hold spaces.</summary>
    private static Stat? Read(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
        var close = text.LastIndexOf(')');
        if (close < 0) return null;
        var fields = text[(close + 2)..].Split(' ');
        if (fields.Length < 15) return null;
        long Field(int number) => long.Parse(fields[number - 3], CultureInfo.InvariantCulture);
        var pid = int.Parse(text.AsSpan(0, text.IndexOf(' ')), CultureInfo.InvariantCulture);
        return new Stat(pid, (int)Field(4), Field(14) + Field(15), Field(16) + Field(17));
    }
}

/// <summary>CPU seconds of the service (null: its pids were not given), the load client and PostgreSQL (null: not given).</summary>
public sealed record CpuUse(double Service, double Client, double Postgres)
{
    public static CpuUse operator -(CpuUse after, CpuUse before) =>
        new(after.Service - before.Service, after.Client - before.Client, after.Postgres - before.Postgres);
}
