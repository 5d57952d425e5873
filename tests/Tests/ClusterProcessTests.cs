using System.Net;
using DatasetPlatform.Tests.Infrastructure;

namespace DatasetPlatform.Tests;

/// <summary>
/// The cluster as run.sh and the deploy files start it: silos (src/Silo) and a gateway (src/Api, DP_MODE=gateway) as separate
/// processes, configured only through the documented environment variables, sharing one PostgreSQL.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class ClusterProcessTests(PlatformFixture platform)
{
    private const string Csv = "Date,Country,GDP\n2020-01-01,USA,100.5\n2020-01-01,ARG,50\n2021-01-01,USA,103\n2021-01-01,ARG,48.25\n";

    [Fact]
    public async Task Two_silos_and_a_gateway_as_processes_import_an_upload()
    {
        await using var cluster = await TestClusterProcesses.StartAsync(platform, silos: 2, gateways: 1);
        try
        {
            // Both silos joined the cluster the variables name, and the gateway is not a member (it hosts no grains).
            Assert.Equal(cluster.SiloPorts.Order(), await cluster.ActiveSiloPortsAsync());

            var api = cluster.Client();
            var datasetId = await api.NewDatasetAsync();
            var created = await ApiClient.ExpectJsonAsync(await api.UploadAsync(datasetId, Csv, ApiClient.DateCountryManifest), HttpStatusCode.Created);
            var process = await api.WaitForProcessAsync(datasetId, created.GetProperty("id").GetInt64(), TimeSpan.FromSeconds(45));
            Assert.True(process.GetProperty("status").GetString() == "Processed", process.ToString());
            Assert.Equal(
                "Country,Date,GDP\nUSA,2020-01-01,100.5\nARG,2020-01-01,50\nUSA,2021-01-01,103\nARG,2021-01-01,48.25\n",
                await api.DownloadAsync(datasetId, "?$format=csv"));
        }
        catch (Exception e)
        {
            throw cluster.WithOutputs(e);
        }
    }
}
