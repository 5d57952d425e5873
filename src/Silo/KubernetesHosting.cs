using DatasetPlatform.Grains.Hosting;
using Orleans.Hosting.Kubernetes;

namespace DatasetPlatform.Silo;

/// <summary>
/// Orleans' Kubernetes hosting (Microsoft.Orleans.Hosting.Kubernetes) for a silo that runs in a pod: the silo is named after
/// its pod, advertises the pod's IP, labels its pod with the cluster and service ids, and declares dead at once a silo whose
/// pod was deleted (instead of waiting for missed probes). Membership itself stays in PostgreSQL.
/// </summary>
/// <remarks>
/// Never on a plain machine: it needs the Kubernetes API (the pod's service account and a Role allowing get, list, watch and
/// patch on pods, see deploy/k8s/silo-rbac.yaml), and its agent retries forbidden calls without end. So it is on only when
/// DP_KUBERNETES says so, or, with DP_KUBERNETES unset, when the process is in a pod (KUBERNETES_SERVICE_HOST, which the
/// kubelet sets) whose manifest gives it POD_NAME, POD_NAMESPACE and POD_IP from the downward API.
/// </remarks>
public static class KubernetesHosting
{
    /// <summary>Set by the kubelet in every container of a pod.</summary>
    public const string ServiceHostVariable = "KUBERNETES_SERVICE_HOST";

    /// <summary>The configuration key DP_KUBERNETES maps onto (true, false, or unset to detect).</summary>
    public const string SettingKey = "Silo:Kubernetes";

    /// <summary>The downward-API variables the manifest gives the silo, read by Orleans' Kubernetes hosting.</summary>
    public static readonly string[] PodVariables =
    [
        KubernetesHostingOptions.PodNameEnvironmentVariable,
        KubernetesHostingOptions.PodNamespaceEnvironmentVariable,
        KubernetesHostingOptions.PodIPEnvironmentVariable,
    ];

    /// <summary>Whether this silo uses Kubernetes hosting; throws when DP_KUBERNETES=true outside a pod.</summary>
    public static bool IsEnabled(IConfiguration configuration, Func<string, string?> environment)
    {
        var inPod = !string.IsNullOrEmpty(environment(ServiceHostVariable));
        if (string.IsNullOrEmpty(configuration[SettingKey])) return inPod && PodVariables.All(v => !string.IsNullOrEmpty(environment(v)));
        var enabled = configuration.GetValue<bool>(SettingKey);
        if (enabled && !inPod)
            throw new InvalidOperationException($"DP_KUBERNETES=true, but this process is not in a Kubernetes pod ({ServiceHostVariable} is not set).");
        return enabled;
    }

    /// <summary>
    /// The endpoints of a silo in a pod: it advertises its pod IP (POD_IP) unless DP_ADVERTISED_ADDRESS names another address.
    /// Orleans' Kubernetes hosting makes it listen on every interface of the pod (its IP and loopback).
    /// </summary>
    public static SiloEndpointOptions InPod(SiloEndpointOptions endpoints, IConfiguration configuration, Func<string, string?> environment)
    {
        if (!string.IsNullOrEmpty(configuration["Silo:AdvertisedAddress"])) return endpoints;
        var podIp = environment(KubernetesHostingOptions.PodIPEnvironmentVariable);
        if (string.IsNullOrEmpty(podIp))
            throw new InvalidOperationException(
                $"In Kubernetes a silo advertises its pod IP: set {KubernetesHostingOptions.PodIPEnvironmentVariable} from the downward API (status.podIP) or DP_ADVERTISED_ADDRESS.");
        endpoints.AdvertisedAddress = podIp;
        return endpoints;
    }
}
