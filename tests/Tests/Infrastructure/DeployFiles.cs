using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace DatasetPlatform.Tests.Infrastructure;

/// <summary>
/// The deploy/ files read back strictly: a field these classes do not name fails the parse, so a misspelt key
/// (e.g. <c>depends-on</c>) is caught here rather than ignored by Docker at run time.
/// </summary>
public static class DeployFiles
{
    /// <summary>The repository root (where DatasetPlatform.sln is).</summary>
    public static string Root { get; } = FindRoot();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, "deploy", .. parts]);

    public static Compose ReadCompose() =>
        new DeserializerBuilder().WithNamingConvention(UnderscoredNamingConvention.Instance).Build()
            .Deserialize<Compose>(File.ReadAllText(Path("compose.yaml")));

    public static Kustomization ReadKustomization() =>
        new DeserializerBuilder().WithNamingConvention(CamelCaseNamingConvention.Instance).Build()
            .Deserialize<Kustomization>(File.ReadAllText(Path("k8s", "kustomization.yaml")));

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "DatasetPlatform.sln"))) return dir.FullName;
        throw new InvalidOperationException("DatasetPlatform.sln not found above " + AppContext.BaseDirectory);
    }

    public sealed class Compose
    {
        public string Name { get; set; } = "";
        public Dictionary<string, ComposeService> Services { get; set; } = [];
        public Dictionary<string, ComposeNetwork> Networks { get; set; } = [];
        public Dictionary<string, Dictionary<string, string>> Volumes { get; set; } = [];
    }

    public sealed class ComposeService
    {
        public string Image { get; set; } = "";
        public List<string>? Command { get; set; }
        public Dictionary<string, string> Environment { get; set; } = [];
        /// <summary>A list of network names, or a map of name to settings (ipv4_address).</summary>
        public object? Networks { get; set; }
        public Dictionary<string, ComposeDependency> DependsOn { get; set; } = [];
        public ComposeHealthcheck? Healthcheck { get; set; }
        public string? StopGracePeriod { get; set; }
        public string? Restart { get; set; }
        public List<string> Volumes { get; set; } = [];
        public List<string> Ports { get; set; } = [];

        /// <summary>The fixed address of this service on <paramref name="network"/>, if it has one.</summary>
        public string? AddressOn(string network) =>
            Networks is Dictionary<object, object> map && map.TryGetValue(network, out var settings) && settings is Dictionary<object, object> s
                && s.TryGetValue("ipv4_address", out var address) ? address as string : null;

        public IEnumerable<string> NetworkNames => Networks switch
        {
            List<object> list => list.Cast<string>(),
            Dictionary<object, object> map => map.Keys.Cast<string>(),
            _ => [],
        };
    }

    public sealed class ComposeDependency
    {
        public string Condition { get; set; } = "";
    }

    public sealed class ComposeHealthcheck
    {
        public List<string> Test { get; set; } = [];
        public string? Interval { get; set; }
        public string? Timeout { get; set; }
        public int Retries { get; set; }
    }

    public sealed class ComposeNetwork
    {
        public ComposeIpam? Ipam { get; set; }
    }

    public sealed class ComposeIpam
    {
        public List<Dictionary<string, string>> Config { get; set; } = [];
    }

    public sealed class Kustomization
    {
        public string ApiVersion { get; set; } = "";
        public string Kind { get; set; } = "";
        public string? Namespace { get; set; }
        public List<KustomizeLabels> Labels { get; set; } = [];
        public List<string> Resources { get; set; } = [];
        public List<KustomizeImage> Images { get; set; } = [];
    }

    public sealed class KustomizeLabels
    {
        public bool IncludeTemplates { get; set; }
        public Dictionary<string, string> Pairs { get; set; } = [];
    }

    public sealed class KustomizeImage
    {
        public string Name { get; set; } = "";
        public string? NewTag { get; set; }
    }
}
