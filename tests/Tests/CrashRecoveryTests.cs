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
        // Restarted on the same silo endpoint: the new generation at that address tells the cluster the old one is dead.
        await using var service = await ServiceUnderTest.StartAsync("crash", connectionString: connectionString);
        var csvPath = Path.Combine(service.WorkDirectory, "big.csv");
        await WriteCsvAsync(csvPath);
        var api = service.Client(timeout: TimeSpan.FromMinutes(3));
        var datasetId = await api.NewDatasetAsync();
        long processId;
        await using (var file = File.OpenRead(csvPath))
        {
            var content = new MultipartFormDataContent
            {
                { new StringContent(ApiClient.DateCountryManifest), "manifest" },
                { new StreamContent(file), "data", "big.csv" },
            };
            var created = await ApiClient.ExpectJsonAsync(await api.Http.PutAsync($"/datasets/{datasetId}/data", content), HttpStatusCode.Created);
            processId = created.GetProperty("id").GetInt64();
        }

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
        service.Process.Kill();

        await service.RestartAsync();
        var again = service.Client(timeout: TimeSpan.FromMinutes(3));
        var done = await again.WaitForProcessAsync(datasetId, processId, TimeSpan.FromSeconds(180));
        Assert.Equal("Processed", done.GetProperty("status").GetString());
        Assert.Equal(Rows, (await again.GetJsonAsync($"/datasets/{datasetId}/date-stats")).GetProperty("rows").GetInt64());

        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var count = new NpgsqlCommand($"SELECT count(*) FROM {DataTables.QualifiedName(datasetId)}", connection);
        Assert.Equal((long)Rows, (long)(await count.ExecuteScalarAsync())!); // no leftovers of the killed attempt
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
