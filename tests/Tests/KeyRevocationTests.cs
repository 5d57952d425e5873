using System.Diagnostics;
using System.Net;
using DatasetPlatform.Tests.Infrastructure;
using Npgsql;
using Xunit.Abstractions;

namespace DatasetPlatform.Tests;

/// <summary>
/// A key revoked at one gateway stops working at every gateway of the cluster promptly, although each caches verified keys
/// for 30 s: a silo and two gateways as processes sharing one database, the key revoked at one and refused by the other.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class KeyRevocationTests(PlatformFixture platform, ITestOutputHelper output)
{
    /// <summary>Far below the 30 s a cached key would otherwise keep working.</summary>
    private static readonly TimeSpan Promptly = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task A_key_revoked_at_one_gateway_is_refused_by_the_other_within_seconds_even_after_its_listener_lost_its_connection()
    {
        var connectionString = await platform.CreateDatabaseAsync();
        var dataDir = Directory.CreateTempSubdirectory("dp-revoke-").FullName;
        var clusterId = "revoke-" + Guid.NewGuid().ToString("N")[..8];
        var shared = new Dictionary<string, string>
        {
            ["DP_POSTGRES"] = connectionString,
            ["DP_DATA_DIR"] = dataDir,
            ["DP_CLUSTER_ID"] = clusterId,
            ["DP_SERVICE_ID"] = clusterId,
            ["DP_ADVERTISED_ADDRESS"] = "127.0.0.1",
        };
        var processes = new List<ServiceProcess>();
        try
        {
            processes.Add(await ServiceProcess.StartSiloAsync(PlatformFixture.FreePort(), new Dictionary<string, string>(shared)
            {
                ["DP_SILO_PORT"] = PlatformFixture.FreePort().ToString(),
                ["DP_GATEWAY_PORT"] = PlatformFixture.FreePort().ToString(),
            }));
            var gatewayEnvironment = new Dictionary<string, string>(shared) { ["DP_MODE"] = "gateway" };
            var (portA, portB) = (PlatformFixture.FreePort(), PlatformFixture.FreePort());
            processes.Add(await ServiceProcess.StartAsync(portA, gatewayEnvironment));
            processes.Add(await ServiceProcess.StartAsync(portB, gatewayEnvironment));
            var admin = Client(portA, ServiceUnderTest.ReadBootstrapKey(dataDir));

            // Revoked at A while B holds the key in its cache: B refuses it within seconds (the revocation is announced).
            var first = await NewKeyAsync(admin);
            var atB = Client(portB, first);
            Assert.Equal(HttpStatusCode.OK, (await atB.Http.GetAsync("/repositories")).StatusCode); // now cached at B
            Assert.Equal(HttpStatusCode.NoContent, (await admin.Http.DeleteAsync($"/keys/{first.Split('_')[1]}")).StatusCode);
            var elapsed = await RefusedWithinAsync(atB);
            output.WriteLine($"announced revocation: refused at the other gateway after {elapsed.TotalMilliseconds:F0} ms");
            Assert.True(elapsed < Promptly, $"gateway B accepted the revoked key for {elapsed.TotalSeconds:F1} s");
            Assert.Contains("revoked", await ApiClient.ExpectProblemAsync(await atB.Http.GetAsync("/repositories"), HttpStatusCode.Unauthorized));
            // The revoking gateway refuses it at once.
            await ApiClient.ExpectProblemAsync(await Client(portA, first).Http.GetAsync("/repositories"), HttpStatusCode.Unauthorized);

            // The listeners lose their connections (a database failover, a network cut) and a key is revoked before they are
            // back: no announcement reaches B, which catches up when its listener reconnects.
            var second = await NewKeyAsync(admin);
            var secondAtB = Client(portB, second);
            Assert.Equal(HttpStatusCode.OK, (await secondAtB.Http.GetAsync("/repositories")).StatusCode);
            Assert.True(await TerminateListenersAsync(connectionString) >= 2, "no listener connections found (one per gateway)");
            Assert.Equal(HttpStatusCode.NoContent, (await admin.Http.DeleteAsync($"/keys/{second.Split('_')[1]}")).StatusCode);
            elapsed = await RefusedWithinAsync(secondAtB);
            output.WriteLine($"revocation while the listeners were cut off: refused at the other gateway after {elapsed.TotalMilliseconds:F0} ms");
            Assert.True(elapsed < Promptly + TimeSpan.FromSeconds(2), $"gateway B accepted the revoked key for {elapsed.TotalSeconds:F1} s after its listener reconnected");
            // Other keys keep working on B.
            Assert.Equal(HttpStatusCode.OK, (await Client(portB, await NewKeyAsync(admin)).Http.GetAsync("/repositories")).StatusCode);
        }
        catch (Exception e) when (processes.Count > 0)
        {
            var outputs = processes.Select(p => p.Output[^Math.Min(p.Output.Length, 3000)..]);
            throw new InvalidOperationException(e.Message + "\n--- the processes' last output ---\n" + string.Join("\n---\n", outputs), e);
        }
        finally
        {
            foreach (var process in processes) process.Dispose();
            Directory.Delete(dataDir, recursive: true);
        }
    }

    private static ApiClient Client(int port, string key) =>
        new(new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) }, key);

    private static async Task<string> NewKeyAsync(ApiClient admin)
    {
        var response = await admin.Http.PostAsync("/keys", ApiClient.Form(("name", "revocable " + Guid.NewGuid().ToString("N")[..6])));
        return (await ApiClient.ExpectJsonAsync(response, HttpStatusCode.Created)).GetProperty("key").GetString()!;
    }

    /// <summary>Polls until the gateway refuses the key; how long that took. Fails past a deadline well under the cache's 30 s.</summary>
    private static async Task<TimeSpan> RefusedWithinAsync(ApiClient client)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(15))
        {
            var status = (await client.Http.GetAsync("/repositories")).StatusCode;
            if (status == HttpStatusCode.Unauthorized) return clock.Elapsed;
            Assert.Equal(HttpStatusCode.OK, status);
            await Task.Delay(50);
        }
        throw new TimeoutException("The revoked key was still accepted after 15 s.");
    }

    private static async Task<int> TerminateListenersAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var terminate = new NpgsqlCommand(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'datasetplatform-revocations/%'",
            connection);
        return Convert.ToInt32(await terminate.ExecuteScalarAsync());
    }
}
