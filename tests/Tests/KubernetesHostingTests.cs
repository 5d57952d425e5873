extern alias silo;
using DatasetPlatform.Grains.Hosting;
using Microsoft.Extensions.Configuration;
using silo::DatasetPlatform.Silo;

namespace DatasetPlatform.Tests;

/// <summary>Orleans' Kubernetes hosting is on in a pod that the manifest set up for it, and never on a plain machine.</summary>
public sealed class KubernetesHostingTests
{
    private static readonly Dictionary<string, string> Pod = new()
    {
        ["KUBERNETES_SERVICE_HOST"] = "10.96.0.1",
        ["POD_NAME"] = "datasetplatform-silo-7c9f-abcde",
        ["POD_NAMESPACE"] = "datasetplatform",
        ["POD_IP"] = "10.244.1.17",
    };

    private static IConfiguration Configuration(params (string Variable, string Value)[] variables)
    {
        var configuration = new ConfigurationManager();
        configuration.AddInMemoryCollection(variables.Select(v => new KeyValuePair<string, string?>(v.Variable, v.Value)));
        configuration.AddPlatformEnvironment();
        return configuration;
    }

    private static Func<string, string?> Environment(IReadOnlyDictionary<string, string> variables) => name => variables.GetValueOrDefault(name);

    [Fact]
    public void A_plain_machine_does_not_use_it()
    {
        Assert.False(KubernetesHosting.IsEnabled(Configuration(), Environment(new Dictionary<string, string>())));
        // A pod whose manifest does not give the pod variables (and so has no RBAC for the agent either) does not use it.
        Assert.False(KubernetesHosting.IsEnabled(Configuration(), Environment(new Dictionary<string, string> { ["KUBERNETES_SERVICE_HOST"] = "10.96.0.1" })));
    }

    [Fact]
    public void A_pod_with_the_downward_API_variables_uses_it_and_advertises_its_pod_IP()
    {
        var configuration = Configuration();
        Assert.True(KubernetesHosting.IsEnabled(configuration, Environment(Pod)));
        var endpoints = KubernetesHosting.InPod(new SiloEndpointOptions(), configuration, Environment(Pod));
        Assert.Equal("10.244.1.17", endpoints.AdvertisedAddress);
    }

    [Fact]
    public void DP_KUBERNETES_turns_it_off_in_a_pod_and_cannot_turn_it_on_outside_one()
    {
        Assert.False(KubernetesHosting.IsEnabled(Configuration(("DP_KUBERNETES", "false")), Environment(Pod)));
        Assert.True(KubernetesHosting.IsEnabled(Configuration(("DP_KUBERNETES", "true")), Environment(Pod)));
        var error = Assert.Throws<InvalidOperationException>(() =>
            KubernetesHosting.IsEnabled(Configuration(("DP_KUBERNETES", "true")), Environment(new Dictionary<string, string>())));
        Assert.Contains("KUBERNETES_SERVICE_HOST", error.Message);
    }

    [Fact]
    public void An_explicit_advertised_address_wins_and_a_missing_pod_IP_is_a_clear_error()
    {
        var explicitAddress = Configuration(("DP_ADVERTISED_ADDRESS", "10.0.0.5"));
        var endpoints = explicitAddress.GetSection("Silo").Get<SiloEndpointOptions>()!;
        Assert.Equal("10.0.0.5", KubernetesHosting.InPod(endpoints, explicitAddress, Environment(Pod)).AdvertisedAddress);

        var withoutIp = new Dictionary<string, string>(Pod);
        withoutIp.Remove("POD_IP");
        var error = Assert.Throws<InvalidOperationException>(() => KubernetesHosting.InPod(new SiloEndpointOptions(), Configuration(), Environment(withoutIp)));
        Assert.Contains("POD_IP", error.Message);
    }
}
