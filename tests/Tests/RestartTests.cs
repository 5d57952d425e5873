using DatasetPlatform.Tests.Infrastructure;

namespace DatasetPlatform.Tests;

/// <summary>Everything lives in PostgreSQL: a restarted service (new silo, new gateway) serves all data and keeps importing.</summary>
[Collection(nameof(PlatformCollection))]
public sealed class RestartTests(PlatformFixture platform)
{
    [Fact]
    public async Task A_restarted_service_still_serves_all_data()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        await api.UploadAndWaitAsync(datasetId, "Date,Country,Value\n2020-01-01,USA,1\n2020-01-01,ARG,2\n", ApiClient.DateCountryManifest);
        var before = await api.DownloadAsync(datasetId);

        await platform.RestartAsync();

        var again = platform.Client();
        Assert.Equal(before, await again.DownloadAsync(datasetId));
        var process = await again.UploadAndWaitAsync(datasetId, "Date,Country,Value\n2021-01-01,USA,3\n");
        Assert.Equal("Processed", process.GetProperty("status").GetString());
        Assert.Equal(2, (await again.GetJsonAsync($"/datasets/{datasetId}/processes")).GetArrayLength());
    }
}
