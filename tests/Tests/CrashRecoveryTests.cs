using System.Net;
using System.Net.Http.Headers;
using System.Text;
using DatasetPlatform.Grains.Storage;
using DatasetPlatform.Tests.Infrastructure;
using Npgsql;

namespace DatasetPlatform.Tests;

/// <summary>An upload acknowledged with 201 survives the death of the process that was importing it, and loads exactly once.</summary>
[Collection(nameof(PlatformCollection))]
public sealed class CrashRecoveryTests(PlatformFixture platform)
{
    private const int Rows = 600_000;

    [Fact]
    public async Task An_import_killed_mid_way_finishes_after_restart_and_loads_once()
    {
        var connectionString = await platform.CreateDatabaseAsync();
        var dataDir = Directory.CreateTempSubdirectory("dp-crash-").FullName;
        var csvPath = Path.Combine(dataDir, "big.csv");
        await WriteCsvAsync(csvPath);
        var httpPort = PlatformFixture.FreePort();
        // Same silo endpoint on restart: the new generation at that address tells the cluster the old one is dead.
        var environment = new Dictionary<string, string>
        {
            ["DP_POSTGRES"] = connectionString,
            ["DP_DATA_DIR"] = dataDir,
            ["DP_STAGING_DIR"] = Path.Combine(dataDir, "staging"),
            ["DP_CLUSTER_ID"] = "crash-" + Guid.NewGuid().ToString("N")[..8],
            ["DP_SILO_PORT"] = PlatformFixture.FreePort().ToString(),
            ["DP_GATEWAY_PORT"] = PlatformFixture.FreePort().ToString(),
        };

        long datasetId, processId;
        using (var first = await ServiceProcess.StartAsync(httpPort, environment))
        {
            var api = Client(httpPort, dataDir);
            datasetId = await api.NewDatasetAsync();
            await using var file = File.OpenRead(csvPath);
            var content = new MultipartFormDataContent
            {
                { new StringContent(ApiClient.DateCountryManifest), "manifest" },
                { new StreamContent(file), "data", "big.csv" },
            };
            var created = await ApiClient.ExpectJsonAsync(await api.Http.PutAsync($"/datasets/{datasetId}/data", content), HttpStatusCode.Created);
            processId = created.GetProperty("id").GetInt64();

            // Kill it while the rows are being loaded.
            var deadline = DateTime.UtcNow.AddSeconds(60);
            string? status;
            do
            {
                status = (await api.GetJsonAsync($"/datasets/{datasetId}/processes/{processId}")).GetProperty("status").GetString();
                if (status == "Processing") break;
                await Task.Delay(10);
            } while (DateTime.UtcNow < deadline);
            Assert.True(status == "Processing", $"The import was never seen processing (last status {status}).");
            first.Kill();
        }

        using var second = await ServiceProcess.StartAsync(httpPort, environment);
        var again = Client(httpPort, dataDir);
        var done = await again.WaitForProcessAsync(datasetId, processId, TimeSpan.FromSeconds(180));
        Assert.Equal("Processed", done.GetProperty("status").GetString());
        Assert.Equal(Rows, (await again.GetJsonAsync($"/datasets/{datasetId}/date-stats")).GetProperty("rows").GetInt64());

        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var count = new NpgsqlCommand($"SELECT count(*) FROM {DataTables.QualifiedName(datasetId)}", connection);
        Assert.Equal((long)Rows, (long)(await count.ExecuteScalarAsync())!); // no leftovers of the killed attempt
        Directory.Delete(dataDir, recursive: true);
    }

    private static ApiClient Client(int httpPort, string dataDir)
    {
        var key = File.ReadAllText(Path.Combine(dataDir, "bootstrap-key.txt")).Trim();
        return new ApiClient(new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromMinutes(3) }, key);
    }

    private static async Task WriteCsvAsync(string path)
    {
        await using var writer = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 16);
        await writer.WriteAsync("Date,Country,A,B,C\n");
        var start = new DateOnly(1900, 1, 1);
        for (var i = 0; i < Rows; i++)
            await writer.WriteAsync($"{start.AddDays(i / 100):yyyy-MM-dd},C{i % 100},{i}.25,{i % 977}.5,{i * 3}\n");
    }
}
