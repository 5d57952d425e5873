using System.Net;
using DatasetPlatform.Tests.Infrastructure;
using Npgsql;

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
        var connectionString = await platform.CreateDatabaseAsync();
        var dataDir = Directory.CreateTempSubdirectory("dp-cluster-").FullName;
        var clusterId = "cluster-" + Guid.NewGuid().ToString("N")[..8];
        var shared = new Dictionary<string, string>
        {
            ["DP_POSTGRES"] = connectionString,
            ["DP_DATA_DIR"] = dataDir,
            ["DP_CLUSTER_ID"] = clusterId,
            ["DP_SERVICE_ID"] = "service-" + clusterId,
            ["DP_ADVERTISED_ADDRESS"] = "127.0.0.1",
        };
        var siloPorts = new[] { PlatformFixture.FreePort(), PlatformFixture.FreePort() };
        var starting = siloPorts.Select(port => ServiceProcess.StartSiloAsync(PlatformFixture.FreePort(), new Dictionary<string, string>(shared)
        {
            ["DP_SILO_PORT"] = port.ToString(),
            ["DP_GATEWAY_PORT"] = PlatformFixture.FreePort().ToString(),
        })).ToList();
        // All three at once, as run.sh and the deploy files do: the gateway waits (not ready) until a silo is active.
        var httpPort = PlatformFixture.FreePort();
        var startingGateway = ServiceProcess.StartAsync(httpPort, new Dictionary<string, string>(shared) { ["DP_MODE"] = "gateway" });
        ServiceProcess? gateway = null;
        try
        {
            await Task.WhenAll(starting);
            gateway = await startingGateway;

            // Both silos joined the cluster the variables name, and the gateway is not a member (it hosts no grains).
            await using (var connection = new NpgsqlConnection(connectionString))
            {
                await connection.OpenAsync();
                await using var members = new NpgsqlCommand(
                    "SELECT port FROM public.orleansmembershiptable WHERE deploymentid = @cluster AND status = 3 ORDER BY port", connection);
                members.Parameters.AddWithValue("cluster", clusterId);
                var active = new List<int>();
                await using (var reader = await members.ExecuteReaderAsync())
                    while (await reader.ReadAsync()) active.Add(reader.GetInt32(0));
                Assert.Equal(siloPorts.Order(), active);
            }

            var key = (await File.ReadAllTextAsync(Path.Combine(dataDir, "bootstrap-key.txt"))).Trim();
            var api = new ApiClient(new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(60) }, key);
            var datasetId = await api.NewDatasetAsync();
            var created = await ApiClient.ExpectJsonAsync(await api.UploadAsync(datasetId, Csv, ApiClient.DateCountryManifest), HttpStatusCode.Created);
            var process = await api.WaitForProcessAsync(datasetId, created.GetProperty("id").GetInt64(), TimeSpan.FromSeconds(45));
            Assert.True(process.GetProperty("status").GetString() == "Processed", process.ToString());
            Assert.Equal(
                "Country,Date,GDP\nUSA,2020-01-01,100.5\nARG,2020-01-01,50\nUSA,2021-01-01,103\nARG,2021-01-01,48.25\n",
                await api.DownloadAsync(datasetId, "?$format=csv"));
        }
        catch (Exception e) when (gateway is not null)
        {
            var outputs = starting.Select(s => s.Result).Append(gateway).Select(p => p.Output[^Math.Min(p.Output.Length, 4000)..]);
            throw new InvalidOperationException(e.Message + "\n--- the processes' last output ---\n" + string.Join("\n---\n", outputs), e);
        }
        finally
        {
            try { (await startingGateway).Dispose(); }
            catch (Exception) { /* it failed to start (and was killed) */ }
            foreach (var silo in starting)
            {
                try { (await silo).Dispose(); }
                catch (Exception) { /* it failed to start (and was killed); the start-up error is what the test reports */ }
            }
            Directory.Delete(dataDir, recursive: true);
        }
    }
}
