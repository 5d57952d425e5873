extern alias silo;
using System.Text.RegularExpressions;
using DatasetPlatform.Grains.Hosting;
using silo::DatasetPlatform.Silo;
using DatasetPlatform.Tests.Infrastructure;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting.Kubernetes;

namespace DatasetPlatform.Tests;

/// <summary>
/// Containers cannot run here, so the deploy files are checked against the code instead: every manifest parses strictly
/// into the Kubernetes models, every variable they set is one the processes read, ports agree with what the processes
/// listen on, and probes hit paths the processes serve.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed partial class DeployManifestTests(PlatformFixture platform)
{
    private const int GatewayHttpPort = 8080;

    /// <summary>Variables the containers set that are not platform settings (ASP.NET Core's own).</summary>
    private static readonly string[] FrameworkVariables = ["ASPNETCORE_HTTP_PORTS"];

    private static List<object> LoadManifests()
    {
        var kustomization = DeployFiles.ReadKustomization();
        Assert.Equal("kustomize.config.k8s.io/v1beta1", kustomization.ApiVersion);
        Assert.Equal("Kustomization", kustomization.Kind);
        var files = Directory.GetFiles(DeployFiles.Path("k8s"), "*.yaml").Select(Path.GetFileName).Where(f => f != "kustomization.yaml").Order();
        Assert.Equal(files, kustomization.Resources.Order()); // every manifest is applied, and every resource listed exists
        return kustomization.Resources
            .SelectMany(file => KubernetesYaml.LoadAllFromString(File.ReadAllText(DeployFiles.Path("k8s", file)), strict: true))
            .ToList();
    }

    private static Dictionary<string, string> Environment(V1Container container, List<object> manifests)
    {
        var values = new Dictionary<string, string>();
        foreach (var source in container.EnvFrom ?? [])
        {
            if (source.ConfigMapRef is { } map)
                foreach (var (key, value) in manifests.OfType<V1ConfigMap>().Single(m => m.Metadata.Name == map.Name).Data) values[key] = value;
            if (source.SecretRef is { } secret)
                foreach (var (key, value) in manifests.OfType<V1Secret>().Single(s => s.Metadata.Name == secret.Name).StringData) values[key] = value;
        }
        foreach (var variable in container.Env ?? []) values[variable.Name] = variable.Value ?? "(from " + variable.ValueFrom?.FieldRef?.FieldPath + ")";
        return values;
    }

    private static V1Container Container(List<object> manifests, string deployment) =>
        Assert.Single(manifests.OfType<V1Deployment>().Single(d => d.Metadata.Name == deployment).Spec.Template.Spec.Containers);

    [Fact]
    public void Every_manifest_is_a_known_kind_with_known_fields()
    {
        var manifests = LoadManifests();
        Assert.All(manifests, m => Assert.True(m is V1Deployment or V1Service or V1Secret or V1ConfigMap or V1PodDisruptionBudget or V1NetworkPolicy
            or V1Namespace or V1ServiceAccount or V1Role or V1RoleBinding, $"Unexpected kind {m.GetType().Name}"));
        Assert.Equal(2, manifests.OfType<V1Deployment>().Count());
        foreach (var deployment in manifests.OfType<V1Deployment>())
        {
            var pod = deployment.Spec.Template.Spec;
            Assert.True(pod.TerminationGracePeriodSeconds >= 30, $"{deployment.Metadata.Name}: no graceful termination period");
            // A stopping silo hands its imports back within Orleans' deactivation timeout, inside its host's shutdown timeout,
            // which must end before Kubernetes kills the pod.
            if (deployment.Metadata.Name == "datasetplatform-silo")
                Assert.True(Orleans.Configuration.GrainCollectionOptions.DEFAULT_DEACTIVATION_TIMEOUT < PlatformHosting.SiloShutdownTimeout
                    && PlatformHosting.SiloShutdownTimeout < TimeSpan.FromSeconds(pod.TerminationGracePeriodSeconds!.Value),
                    $"silo: deactivation timeout < host shutdown timeout ({PlatformHosting.SiloShutdownTimeout}) < terminationGracePeriodSeconds ({pod.TerminationGracePeriodSeconds} s)");
            Assert.All(pod.Containers, c =>
            {
                Assert.NotNull(c.Resources?.Limits?["memory"]);
                Assert.NotNull(c.Resources?.Limits?["cpu"]);
                Assert.NotNull(c.ReadinessProbe?.HttpGet);
                Assert.NotNull(c.LivenessProbe?.HttpGet);
            });
            // Selectors match their pods.
            Assert.All(deployment.Spec.Selector.MatchLabels, label => Assert.Equal(label.Value, deployment.Spec.Template.Metadata.Labels[label.Key]));
        }
    }

    [Fact]
    public void Every_variable_a_manifest_sets_is_one_the_processes_read()
    {
        var manifests = LoadManifests();
        var set = manifests.OfType<V1Deployment>().SelectMany(d => d.Spec.Template.Spec.Containers).SelectMany(c => Environment(c, manifests).Keys)
            .Concat(DeployFiles.ReadCompose().Services.Where(s => s.Key != "postgres").SelectMany(s => s.Value.Environment.Keys))
            .Concat(DockerfileEnvironment().Keys)
            .Distinct().ToList();
        var unknown = set.Except(PlatformEnvironment.Keys.Keys).Except(FrameworkVariables).Except(KubernetesHosting.PodVariables).ToList();
        Assert.True(unknown.Count == 0, "Set by deploy files but read by no process: " + string.Join(", ", unknown));
        Assert.Contains("DP_POSTGRES", set);
    }

    [Fact]
    public void Silos_advertise_their_pod_IP_and_expose_the_ports_they_listen_on()
    {
        var manifests = LoadManifests();
        var silo = Container(manifests, "datasetplatform-silo");
        var variables = Environment(silo, manifests);
        // Orleans' Kubernetes hosting reads the pod's name, namespace and IP; the silo advertises that IP (KubernetesHosting.InPod).
        string FieldPath(string variable) => Assert.Single(silo.Env, e => e.Name == variable).ValueFrom.FieldRef.FieldPath;
        Assert.Equal("metadata.name", FieldPath(KubernetesHostingOptions.PodNameEnvironmentVariable));
        Assert.Equal("metadata.namespace", FieldPath(KubernetesHostingOptions.PodNamespaceEnvironmentVariable));
        Assert.Equal("status.podIP", FieldPath(KubernetesHostingOptions.PodIPEnvironmentVariable));
        Assert.Equal("true", variables["DP_KUBERNETES"]);
        Assert.DoesNotContain("DP_ADVERTISED_ADDRESS", variables.Keys); // it would win over the pod IP
        Assert.Equal("dotnet", silo.Command[0]);
        Assert.EndsWith("DatasetPlatform.Silo.dll", silo.Command[1]);
        int Port(string name) => Assert.Single(silo.Ports, p => p.Name == name).ContainerPort;
        Assert.Equal(int.Parse(variables["DP_SILO_PORT"]), Port("silo"));
        Assert.Equal(int.Parse(variables["DP_GATEWAY_PORT"]), Port("orleans-gateway"));
        Assert.Equal(int.Parse(variables["DP_HEALTH_PORT"]), Port("health"));
        Assert.Equal(SiloHealth.ReadyPath, silo.ReadinessProbe.HttpGet.Path);
        Assert.Equal(SiloHealth.LivePath, silo.LivenessProbe.HttpGet.Path);
        Assert.Equal("health", silo.ReadinessProbe.HttpGet.Port.Value);
        Assert.Equal("health", silo.LivenessProbe.HttpGet.Port.Value);
        // The network policy opens the Orleans ports to the platform's own pods only; kustomize puts that label on the pods.
        var policy = manifests.OfType<V1NetworkPolicy>().Single();
        var orleansRule = Assert.Single(policy.Spec.Ingress, rule => rule.FromProperty is { Count: > 0 });
        Assert.Equal([Port("silo"), Port("orleans-gateway")], orleansRule.Ports.Select(p => int.Parse(p.Port.Value)));
        var partOf = Assert.Single(orleansRule.FromProperty).PodSelector.MatchLabels.Single();
        var labels = Assert.Single(DeployFiles.ReadKustomization().Labels);
        Assert.True(labels.IncludeTemplates);
        Assert.Equal(partOf.Value, labels.Pairs[partOf.Key]);
    }

    [Fact]
    public void Silo_pods_carry_the_labels_and_the_rights_Orleans_Kubernetes_hosting_needs()
    {
        var manifests = LoadManifests();
        var deployment = manifests.OfType<V1Deployment>().Single(d => d.Metadata.Name == "datasetplatform-silo");
        var variables = Environment(Container(manifests, "datasetplatform-silo"), manifests);
        // The agent finds the silo pods of its cluster by these labels; they must name the cluster the silo joins.
        var labels = deployment.Spec.Template.Metadata.Labels;
        Assert.Equal(variables["DP_SERVICE_ID"], labels[KubernetesHostingOptions.ServiceIdLabel]);
        Assert.Equal(variables["DP_CLUSTER_ID"], labels[KubernetesHostingOptions.ClusterIdLabel]);
        // Orleans' own variables would silently override DP_CLUSTER_ID / DP_SERVICE_ID.
        Assert.DoesNotContain(KubernetesHostingOptions.ClusterIdEnvironmentVariable, variables.Keys);
        Assert.DoesNotContain(KubernetesHostingOptions.ServiceIdEnvironmentVariable, variables.Keys);

        // The pod runs as a service account bound to a role that allows what the agent calls, and no more.
        var account = manifests.OfType<V1ServiceAccount>().Single();
        Assert.Equal(account.Metadata.Name, deployment.Spec.Template.Spec.ServiceAccountName);
        var binding = manifests.OfType<V1RoleBinding>().Single();
        var subject = Assert.Single(binding.Subjects);
        Assert.Equal(("ServiceAccount", account.Metadata.Name), (subject.Kind, subject.Name));
        var kustomizeNamespace = DeployFiles.ReadKustomization().Namespace;
        Assert.Equal(kustomizeNamespace, subject.NamespaceProperty); // kustomize sets the namespace of subjects named "default" only
        Assert.Equal(kustomizeNamespace, manifests.OfType<V1Namespace>().Single().Metadata.Name);
        var role = manifests.OfType<V1Role>().Single();
        Assert.Equal(("rbac.authorization.k8s.io", "Role", role.Metadata.Name), (binding.RoleRef.ApiGroup, binding.RoleRef.Kind, binding.RoleRef.Name));
        var rule = Assert.Single(role.Rules);
        Assert.Equal([""], rule.ApiGroups);
        Assert.Equal(["pods"], rule.Resources);
        // get + patch: its own pod's labels; list + watch: the cluster's pods. delete only with DeleteDefunctSiloPods, which stays off.
        Assert.Equal(["get", "list", "patch", "watch"], rule.Verbs.Order());
        // The gateways need no API access.
        Assert.Null(manifests.OfType<V1Deployment>().Single(d => d.Metadata.Name == "datasetplatform-gateway").Spec.Template.Spec.ServiceAccountName);
    }

    [Fact]
    public void Gateways_join_the_silos_cluster_and_are_probed_on_paths_they_map()
    {
        var manifests = LoadManifests();
        var gateway = Container(manifests, "datasetplatform-gateway");
        var silo = Container(manifests, "datasetplatform-silo");
        var gatewayVariables = Environment(gateway, manifests);
        var siloVariables = Environment(silo, manifests);
        Assert.Equal("gateway", gatewayVariables["DP_MODE"]);
        foreach (var shared in new[] { "DP_CLUSTER_ID", "DP_SERVICE_ID", "DP_POSTGRES" }) Assert.Equal(siloVariables[shared], gatewayVariables[shared]);
        Assert.Equal(GatewayHttpPort, Assert.Single(gateway.Ports).ContainerPort);
        Assert.Equal(GatewayHttpPort.ToString(), DockerfileEnvironment()["ASPNETCORE_HTTP_PORTS"]);
        var mapped = MappedPaths();
        Assert.Contains(gateway.ReadinessProbe.HttpGet.Path, mapped);
        Assert.Contains(gateway.LivenessProbe.HttpGet.Path, mapped);
        Assert.Equal("/health/ready", gateway.ReadinessProbe.HttpGet.Path);

        var service = manifests.OfType<V1Service>().Single();
        Assert.All(service.Spec.Selector, label => Assert.Equal(label.Value, manifests.OfType<V1Deployment>()
            .Single(d => d.Metadata.Name == "datasetplatform-gateway").Spec.Template.Metadata.Labels[label.Key]));
        Assert.Equal("http", Assert.Single(service.Spec.Ports).TargetPort.Value);
        Assert.Equal("http", Assert.Single(gateway.Ports).Name);
    }

    [Fact]
    public void The_compose_file_runs_three_silos_and_two_gateways_behind_one_entry()
    {
        var compose = DeployFiles.ReadCompose();
        var silos = compose.Services.Where(s => s.Value.Command?.LastOrDefault()?.EndsWith("DatasetPlatform.Silo.dll") == true).ToList();
        var gateways = compose.Services.Where(s => s.Value.Environment.GetValueOrDefault("DP_MODE") == "gateway").ToList();
        Assert.Equal(3, silos.Count);
        Assert.Equal(2, gateways.Count);
        var published = Assert.Single(compose.Services, s => s.Value.Ports.Count > 0);
        Assert.Equal("8080:80", Assert.Single(published.Value.Ports));

        var cluster = compose.Networks.Single();
        var subnet = Assert.Single(cluster.Value.Ipam!.Config)["subnet"];
        var addresses = new HashSet<string>();
        foreach (var (name, silo) in silos)
        {
            var env = silo.Environment;
            // It advertises the fixed address it has on the private network, unique among the silos and inside the subnet.
            Assert.Equal(silo.AddressOn(cluster.Key), env["DP_ADVERTISED_ADDRESS"]);
            Assert.True(addresses.Add(env["DP_ADVERTISED_ADDRESS"]), $"{name}: address taken twice");
            Assert.StartsWith(subnet[..subnet.LastIndexOf('.')], env["DP_ADVERTISED_ADDRESS"]);
            Assert.Contains($"/dev/tcp/127.0.0.1/{env["DP_HEALTH_PORT"]}", silo.Healthcheck!.Test.Last());
            Assert.Contains(SiloHealth.ReadyPath, silo.Healthcheck.Test.Last());
            Assert.Equal("service_healthy", silo.DependsOn["postgres"].Condition);
        }
        foreach (var (name, service) in silos.Concat(gateways))
        {
            Assert.Contains(cluster.Key, service.NetworkNames);
            Assert.Equal(silos[0].Value.Environment["DP_CLUSTER_ID"], service.Environment["DP_CLUSTER_ID"]);
            Assert.Equal(silos[0].Value.Environment["DP_SERVICE_ID"], service.Environment["DP_SERVICE_ID"]);
            Assert.Equal(silos[0].Value.Environment["DP_POSTGRES"], service.Environment["DP_POSTGRES"]);
            Assert.Empty(service.Ports); // Orleans and gateway ports stay on the private network
            Assert.All(service.DependsOn.Keys, dependency => Assert.Contains(dependency, compose.Services.Keys));
        }
        foreach (var (_, gateway) in gateways)
        {
            Assert.Contains($"/dev/tcp/127.0.0.1/{GatewayHttpPort}", gateway.Healthcheck!.Test.Last());
            Assert.Contains("/health/ready", gateway.Healthcheck.Test.Last());
        }
        // PostgreSQL admits every process's pools at their largest (defaults: nothing in the file lowers them).
        Assert.All(silos.Concat(gateways), s => Assert.DoesNotContain(s.Value.Environment.Keys, k => k.StartsWith("DP_DB_")));
        var pools = new DatabasePoolOptions();
        var needed = (silos.Count + gateways.Count) * (pools.MaxPoolSize + pools.OrleansPoolSize) + gateways.Count; // + each gateway's revocation listener
        var maxConnections = int.Parse(compose.Services["postgres"].Command!.Single(a => a.StartsWith("max_connections="))["max_connections=".Length..]);
        Assert.True(maxConnections >= needed, $"max_connections={maxConnections}, the processes may open {needed}");

        // nginx spreads over exactly the gateways, on the port they listen on.
        var upstream = UpstreamServer().Matches(File.ReadAllText(DeployFiles.Path("nginx.conf"))).Select(m => (m.Groups[1].Value, int.Parse(m.Groups[2].Value)));
        Assert.Equal(gateways.Select(g => (g.Key, GatewayHttpPort)).Order(), upstream.Order());
        Assert.All(published.Value.Volumes.Concat(compose.Services["postgres"].Volumes).Select(v => v.Split(':')[0]).Where(v => v.StartsWith("./")),
            file => Assert.True(File.Exists(DeployFiles.Path(file[2..])), $"{file} is missing"));
    }

    [Fact]
    public void The_image_exposes_every_port_the_processes_listen_on()
    {
        var dockerfile = File.ReadAllText(DeployFiles.Path("Dockerfile"));
        var env = DockerfileEnvironment();
        var exposed = Expose().Match(dockerfile).Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).Order();
        Assert.Equal(new[] { "ASPNETCORE_HTTP_PORTS", "DP_HEALTH_PORT", "DP_SILO_PORT", "DP_GATEWAY_PORT" }.Select(k => int.Parse(env[k])).Order(), exposed);
        Assert.Contains("dotnet publish src/Api/Api.csproj", dockerfile);
        Assert.Contains("dotnet publish src/Silo/Silo.csproj", dockerfile);
    }

    /// <summary>The ENV instructions of the Dockerfile's final stage.</summary>
    private static Dictionary<string, string> DockerfileEnvironment()
    {
        var text = File.ReadAllText(DeployFiles.Path("Dockerfile")).Replace("\\\n", " ");
        var finalStage = text[text.LastIndexOf("\nFROM ", StringComparison.Ordinal)..];
        return EnvInstruction().Matches(finalStage)
            .SelectMany(m => EnvPair().Matches(m.Groups[1].Value))
            .ToDictionary(p => p.Groups[1].Value, p => p.Groups[2].Value);
    }

    private HashSet<string> MappedPaths() => platform.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
        .Select(e => "/" + e.RoutePattern.RawText?.TrimStart('/')).ToHashSet();

    [GeneratedRegex(@"server ([a-z0-9-]+):(\d+)")]
    private static partial Regex UpstreamServer();

    [GeneratedRegex(@"^EXPOSE ([0-9 ]+)$", RegexOptions.Multiline)]
    private static partial Regex Expose();

    [GeneratedRegex(@"^ENV (.+)$", RegexOptions.Multiline)]
    private static partial Regex EnvInstruction();

    [GeneratedRegex(@"([A-Z_]+)=(\S+)")]
    private static partial Regex EnvPair();
}
