using System.Net;
using System.Text;
using DatasetPlatform.Tests.Infrastructure;

namespace DatasetPlatform.Tests;

/// <summary>One dataset imports in arrival order, one at a time; different datasets import side by side.</summary>
[Collection(nameof(PlatformCollection))]
public sealed class ImportQueueTests(PlatformFixture platform)
{
    [Fact]
    public async Task Ten_uploads_to_one_dataset_finish_in_arrival_order()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        var processIds = new List<long>();
        for (var i = 1; i <= 10; i++)
        {
            // Every upload rewrites the same key; only arrival-order processing leaves upload 10's value.
            var csv = $"Date,Country,Value,Upload\n2020-01-01,USA,{i},{i}\n2020-01-{i + 1:00},USA,{i},{i}\n";
            var response = await api.UploadAsync(datasetId, csv, i == 1 ? ApiClient.DateCountryManifest : null, "?onConflictUpdateDB=True");
            processIds.Add((await ApiClient.ExpectJsonAsync(response, HttpStatusCode.Created)).GetProperty("id").GetInt64());
        }
        var finished = new List<System.Text.Json.JsonElement>();
        foreach (var id in processIds) finished.Add(await api.WaitForProcessAsync(datasetId, id));

        Assert.All(finished, p => Assert.Equal("Processed", p.GetProperty("status").GetString()));
        var processedAt = finished.Select(p => p.GetProperty("processedAt").GetDateTime()).ToList();
        Assert.Equal(processedAt.Order(), processedAt);
        Assert.Equal(Enumerable.Range(0, 10), finished.Select(p => p.GetProperty("version").GetInt32()));
        Assert.Equal("Country,Date,Value,Upload\nUSA,2020-01-01,10,10\n", await api.DownloadAsync(datasetId, "?$filter=Date eq 2020-01-01"));
        Assert.Equal(11, (await api.DownloadAsync(datasetId)).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length - 1);
    }

    [Fact]
    public async Task Uploads_to_many_datasets_at_once_all_complete()
    {
        var api = platform.Client();
        var repositoryId = await api.CreateRepositoryAsync();
        var datasets = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => api.CreateDatasetAsync(repositoryId)));
        var results = await Task.WhenAll(datasets.Select(async (datasetId, n) =>
        {
            var csv = new StringBuilder("Date,Country,Value\n");
            for (var row = 0; row < 2000; row++) csv.Append($"{new DateOnly(2000, 1, 1).AddDays(row):yyyy-MM-dd},C{n},{row}.5\n");
            var process = await api.UploadAndWaitAsync(datasetId, csv.ToString(), ApiClient.DateCountryManifest);
            return (datasetId, process);
        }));
        foreach (var (datasetId, process) in results)
        {
            Assert.Equal("Processed", process.GetProperty("status").GetString());
            Assert.Equal(2000, (await api.GetJsonAsync($"/datasets/{datasetId}/date-stats")).GetProperty("rows").GetInt64());
        }
    }
}
