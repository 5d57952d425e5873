using System.Runtime.InteropServices;

namespace DatasetPlatform.LoadTest;

/// <summary>The machine the harness runs on (on one machine, also the service's).</summary>
public sealed record MachineInfo(int Cores, string Memory, string Os, string Runtime, string LoadAverageAtStart)
{
    public static MachineInfo Read() => new(Environment.ProcessorCount, TotalMemory(), RuntimeInformation.OSDescription,
        RuntimeInformation.FrameworkDescription, LoadAverage());

    public static string LoadAverage()
    {
        try { return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "unknown"; }
        catch (UnauthorizedAccessException) { return "unknown"; }
    }

    private static string TotalMemory()
    {
        try
        {
            var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            if (line is not null && long.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], out var kb)) return $"{kb / 1024.0 / 1024.0:F1} GiB";
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return "unknown";
    }
}
