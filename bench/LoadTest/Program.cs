using System.Globalization;
using DatasetPlatform.LoadTest;

// bench/load.sh runs this; see bench/README.md. Exit code: 0 verified, 1 verification failed, 2 cannot run (usage, service unreachable).
const string Usage = """
    usage: DatasetPlatform.LoadTest [smoke|many-small|big|chaos] --url URL[,URL...] (--key KEY | --key-file FILE)
           [--datasets N] [--uploads N] [--rows N] [--clients N] [--doors alphacast,presigned,blocks,versions]
           [--fixed-cost N] [--timeout SECONDS] [--copy-baseline] [--copy-rows N]
           [--kill-pids PID[,PID...]] [--kill-one-of PID[,PID...]] [--kill-after FRACTION] [--target TEXT] [--silos N] [--note TEXT] [--results DIR]
           [--cpu-service PID[,PID...]] [--cpu-postgres POSTMASTER_PID]
    --copy-baseline reads DP_PG_BIN, DP_PG_HOST, DP_PG_PORT, DP_PG_USER, DP_PG_PASSWORD, DP_PG_DB (scripts/postgres.sh exports them).
    """;

try
{
    var arguments = new Queue<string>(args);
    var scenarioName = arguments.Count > 0 && !arguments.Peek().StartsWith("--", StringComparison.Ordinal) ? arguments.Dequeue() : "smoke";
    if (!Scenario.Known.TryGetValue(scenarioName, out var scenario)) throw new ArgumentException($"Unknown scenario '{scenarioName}'.");
    var options = new LoadTestOptions(scenario);
    List<string> urls = [];
    string? key = null;
    var results = Path.Combine("bench", "results");
    string Next(string name) => arguments.Count > 0 ? arguments.Dequeue() : throw new ArgumentException($"{name} needs a value.");
    int Number(string name) => int.TryParse(Next(name), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : throw new ArgumentException($"{name} takes a positive whole number.");
    while (arguments.Count > 0)
    {
        var name = arguments.Dequeue();
        switch (name)
        {
            case "--url": urls.AddRange(Next(name).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)); break;
            case "--key": key = Next(name); break;
            case "--key-file": key = File.ReadAllText(Next(name)).Trim(); break;
            case "--datasets": scenario = scenario with { Datasets = Number(name) }; break;
            case "--uploads": scenario = scenario with { UploadsPerDataset = Number(name) }; break;
            case "--rows": scenario = scenario with { RowsPerUpload = Number(name) }; break;
            case "--clients": scenario = scenario with { Clients = Number(name) }; break;
            case "--fixed-cost": scenario = scenario with { FixedCostSamples = int.Parse(Next(name), CultureInfo.InvariantCulture) }; break;
            case "--doors": scenario = scenario with { Doors = [.. Next(name).Split(',', StringSplitOptions.RemoveEmptyEntries).Select(DoorNames.Parse)] }; break;
            case "--timeout": options = options with { Timeout = TimeSpan.FromSeconds(Number(name)) }; break;
            case "--copy-baseline":
                options = options with { CopyBaseline = PsqlSettings.FromEnvironment() ?? throw new ArgumentException("--copy-baseline needs DP_PG_* in the environment.") };
                break;
            case "--copy-rows": options = options with { CopyRowsPerStream = Number(name) }; break;
            case "--kill-pids": options = options with { KillPids = [.. Next(name).Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture))] }; break;
            case "--kill-one-of": options = options with { KillOneOf = [.. Next(name).Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture))] }; break;
            case "--kill-after": options = options with { KillAfter = double.Parse(Next(name), CultureInfo.InvariantCulture) }; break;
            case "--target": options = options with { Target = Next(name) }; break;
            case "--silos": options = options with { Silos = Next(name) }; break;
            case "--cpu-service": options = options with { ServicePids = [.. Next(name).Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture))] }; break;
            case "--cpu-postgres": options = options with { PostgresPids = [.. Next(name).Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture))] }; break;
            case "--note": options = options with { Note = Next(name) }; break;
            case "--warmup": options = options with { WarmupDatasets = int.Parse(Next(name), CultureInfo.InvariantCulture) }; break;
            case "--results": results = Next(name); break;
            default: throw new ArgumentException($"Unknown option '{name}'.");
        }
    }
    if (urls.Count == 0) throw new ArgumentException("--url is required (bench/load.sh starts a service and passes it).");
    if (string.IsNullOrEmpty(key)) throw new ArgumentException("--key or --key-file is required.");
    if (scenario.Name == "chaos" && options.KillPids.Count == 0 && options.KillOneOf.Count == 0)
        throw new ArgumentException("chaos needs --kill-one-of or --kill-pids (bench/load.sh chaos starts a cluster and passes its silos' pids).");
    options = options with { Scenario = scenario, Target = options.Target.Length > 0 ? options.Target : "given by URL" };

    var statuses = new StatusCounts();
    var gateways = urls.Select(url => new GatewayClient(new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
    {
        BaseAddress = new Uri(url),
        Timeout = options.Timeout,
    }, key, statuses, url)).ToList();

    using var cancel = new CancellationTokenSource();
    Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
    var result = await LoadTestRunner.RunAsync(options, gateways, statuses, Console.Out, cancel.Token);
    var report = LoadReport.Markdown(result);
    Directory.CreateDirectory(results);
    var file = Path.Combine(results, $"{result.StartedUtc:yyyy-MM-dd-HHmm}-{scenario.Name}.md");
    await File.WriteAllTextAsync(file, report);
    Console.WriteLine();
    Console.WriteLine(report);
    Console.WriteLine($"written to {file}");
    return result.Passed ? 0 : 1;
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine(Usage);
    return 2;
}
catch (Exception e) when (e is InvalidOperationException or HttpRequestException)
{
    Console.Error.WriteLine($"load test could not run: {e.Message}");
    return 2;
}
