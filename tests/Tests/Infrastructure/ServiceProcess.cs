extern alias silo;

using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace DatasetPlatform.Tests.Infrastructure;

/// <summary>The real service binary in its own OS process, so a test can kill it the hard way (SIGKILL).</summary>
public sealed class ServiceProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<(DateTime At, string Line)> _lines = [];

    private ServiceProcess(Process process) => _process = process;

    public string Output { get { lock (_lines) return string.Join('\n', _lines.Select(l => l.Line)); } }

    /// <summary>When the process last wrote a line containing <paramref name="text"/> (UTC, as the test saw it), or null.</summary>
    public DateTime? LastLineWith(string text)
    {
        lock (_lines)
        {
            for (var i = _lines.Count - 1; i >= 0; i--)
                if (_lines[i].Line.Contains(text, StringComparison.Ordinal)) return _lines[i].At;
        }
        return null;
    }

    /// <summary>The operating system's process id (what the service puts in its PostgreSQL application_name and its logs).</summary>
    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>The gateway binary (src/Api): embedded silo, or a cluster client with DP_MODE=gateway.</summary>
    public static Task<ServiceProcess> StartAsync(int httpPort, IDictionary<string, string> environment) =>
        StartAsync(typeof(Program).Assembly.Location, ["--urls", $"http://127.0.0.1:{httpPort}"], environment, httpPort);

    /// <summary>The silo binary (src/Silo), ready once its health endpoint (on <paramref name="healthPort"/>) says so.</summary>
    public static Task<ServiceProcess> StartSiloAsync(int healthPort, IDictionary<string, string> environment) =>
        StartAsync(typeof(silo::DatasetPlatform.Silo.SiloHealth).Assembly.Location, [],
            new Dictionary<string, string>(environment) { ["DP_HEALTH_PORT"] = healthPort.ToString() }, healthPort);

    private static async Task<ServiceProcess> StartAsync(string dll, string[] arguments, IDictionary<string, string> environment, int probePort)
    {
        var info = new ProcessStartInfo("dotnet", [dll, .. arguments])
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (key, value) in environment) info.Environment[key] = value;
        var service = new ServiceProcess(Process.Start(info)!);
        service._process.OutputDataReceived += (_, e) => service.Append(e.Data);
        service._process.ErrorDataReceived += (_, e) => service.Append(e.Data);
        service._process.BeginOutputReadLine();
        service._process.BeginErrorReadLine();

        using var probe = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{probePort}"), Timeout = TimeSpan.FromSeconds(10) };
        // Generous: on two cores shared with other builds a silo has been seen to need over 90 s to join its cluster.
        var deadline = DateTime.UtcNow.AddSeconds(180);
        while (DateTime.UtcNow < deadline)
        {
            if (service._process.HasExited) throw new InvalidOperationException("The service exited during start-up:\n" + service.Output);
            try
            {
                if ((await probe.GetAsync("/health/ready")).IsSuccessStatusCode) return service;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
            await Task.Delay(200);
        }
        service.Kill();
        throw new TimeoutException("The service did not become ready:\n" + service.Output);
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_lines) _lines.Add((DateTime.UtcNow, line));
    }

    /// <summary>SIGKILL: no graceful shutdown, no chance to finish or roll back anything itself.</summary>
    public void Kill()
    {
        if (_process.HasExited) return;
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>
    /// SIGTERM, as Kubernetes, docker stop and run.sh's Ctrl-C send it: the host stops gracefully. Waits at most
    /// <paramref name="timeout"/> for the process to exit and returns how long it took; past it the process is killed and this throws.
    /// </summary>
    public async Task<TimeSpan> StopGracefullyAsync(TimeSpan timeout)
    {
        var stopwatch = Stopwatch.StartNew();
        if (SendSignal(_process.Id, SigTerm) != 0) throw new InvalidOperationException($"kill({_process.Id}, SIGTERM) failed: errno {Marshal.GetLastPInvokeError()}");
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
            throw new TimeoutException($"The process did not exit within {timeout.TotalSeconds} s of SIGTERM; killed.");
        }
        return stopwatch.Elapsed;
    }

    private const int SigTerm = 15;

    /// <summary>kill(2): sends <paramref name="signal"/> to <paramref name="pid"/>; 0 on success (.NET only sends SIGKILL itself).</summary>
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    internal static extern int SendSignal(int pid, int signal);

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }
}
