using System.Net;
using System.Text;
using System.Text.Json;
using DatasetPlatform.Tests.Infrastructure;

namespace DatasetPlatform.Tests;

/// <summary>
/// A presigned URL's single use is taken when its PUT starts: a second PUT while the first streams is refused at once
/// (409) and stores nothing; a PUT that fails midway gives the use back, so the same URL can be retried until it expires.
/// </summary>
/// <remarks>Behind real Kestrel, so the first PUT really is still streaming while the second arrives.</remarks>
[Collection(nameof(PlatformCollection))]
public sealed class PresignedSingleUseTests(TightLimitsService service) : IClassFixture<TightLimitsService>
{
    private const string Schema = """{"strict": true, "fields": {"prompt": {"type": "string"}, "score": {"type": "integer"}}}""";
    private const int Records = 1000;

    [Fact]
    public async Task A_second_put_while_the_first_streams_gets_409_and_stores_nothing()
    {
        var (datasetId, importId, url) = await UploadUrlAsync();
        // The first PUT trickles its records at 2 KB/s (above the minimum rate), so it is still streaming for a while.
        await using var first = await SlowUpload.StartAsync(service.HttpPort, "PUT", url, Ndjson, RecordsOf("first"), 512, 256, TimeSpan.FromMilliseconds(125));
        await WaitForClaimAsync(importId, claimed: true);

        var second = await Put(url, "{\"prompt\":\"second\",\"score\":9}\n");
        Assert.Contains("already in progress", await ApiClient.ExpectProblemAsync(second, HttpStatusCode.Conflict));
        Assert.Equal(1, await service.ScalarAsync("SELECT count(*) FROM dp.staged_files WHERE dataset_id = @id", datasetId)); // only the first's
        Assert.False(first.Response.IsCompleted);

        await first.FinishAsync();
        var response = await first.Response.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(response.Status == 200, $"The first PUT answered {response.Status}: {response.Body}");
        var third = await Put(url, "{\"prompt\":\"third\",\"score\":3}\n");
        Assert.Contains("already been used", await ApiClient.ExpectProblemAsync(third, HttpStatusCode.Forbidden));

        var import = await WaitForImportAsync(datasetId, importId);
        Assert.Equal("complete", import.GetProperty("status").GetString());
        Assert.Equal(Records, import.GetProperty("accepted_count").GetInt64());
        var csv = await service.Client().DownloadAsync(datasetId);
        Assert.Contains("first 0,0\n", csv);
        Assert.DoesNotContain("second", csv);
    }

    [Fact]
    public async Task A_put_that_fails_midway_leaves_nothing_and_the_url_can_be_retried()
    {
        var (datasetId, importId, url) = await UploadUrlAsync();
        var broken = await SlowUpload.StartAsync(service.HttpPort, "PUT", url, Ndjson, RecordsOf("lost"), 2048, 256, TimeSpan.FromMilliseconds(125));
        await WaitForClaimAsync(importId, claimed: true);
        await broken.DisposeAsync(); // the client goes away in the middle of its body

        // The server gives the use back and keeps nothing of the broken upload.
        await WaitForClaimAsync(importId, claimed: false);
        Assert.Equal(0, await service.ScalarAsync("SELECT count(*) FROM dp.staged_files WHERE dataset_id = @id", datasetId));
        var status = await ApiClient.ExpectJsonAsync(await service.Client().Http.GetAsync($"/datasets/{datasetId}/imports/{importId}"), HttpStatusCode.OK);
        Assert.Equal("uninitialised", status.GetProperty("status").GetString());

        var retry = await Put(url, "{\"prompt\":\"retried\",\"score\":4}\n");
        Assert.Equal(HttpStatusCode.OK, retry.StatusCode);
        Assert.Equal("complete", (await WaitForImportAsync(datasetId, importId)).GetProperty("status").GetString());
        Assert.Equal("prompt,score\nretried,4\n", await service.Client().DownloadAsync(datasetId));
    }

    [Fact]
    public async Task A_put_that_lost_a_committed_chunk_is_refused_not_acknowledged()
    {
        // Chunks commit without waiting for the WAL flush; only the job's commit is synchronous. A chunk lost in between (the
        // database crashed and came back while the client kept sending) must fail the upload, never become a 200 whose
        // file silently misses a part. Losing it is simulated by deleting the committed first chunk mid-upload.
        var (datasetId, importId, url) = await UploadUrlAsync();
        var records = new StringBuilder();
        for (var i = 0; records.Length < 3 * (1 << 20); i++) records.Append($"{{\"prompt\":\"{new string('p', 200)} {i}\",\"score\":{i}}}\n");
        var body = Encoding.UTF8.GetBytes(records.ToString());
        await using var upload = await SlowUpload.StartAsync(service.HttpPort, "PUT", url, Ndjson, body, 2 * (1 << 20) + 10, 256, TimeSpan.FromMilliseconds(125));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await service.ScalarAsync(
            "WITH lost AS (DELETE FROM dp.staged_file_chunks c USING dp.import_jobs j WHERE j.id = @id AND c.file_id = j.upload_file_id AND c.seq = 0 RETURNING 1) "
            + "SELECT count(*) FROM lost", importId) == 0)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("The upload's first chunk was never written.");
            await Task.Delay(20);
        }
        await upload.FinishAsync();

        var response = await upload.Response.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(response.Status == 409 && response.Body.Contains("lost"), $"The PUT answered {response.Status}: {response.Body}");
        Assert.Equal(0, await service.ScalarAsync("SELECT count(*) FROM dp.import_jobs WHERE dataset_id = @id AND status <> 'uninitialised'", datasetId));
    }

    private static readonly Dictionary<string, string> Ndjson = new() { ["Content-Type"] = "application/x-ndjson" };

    private static byte[] RecordsOf(string prompt) =>
        Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, Records).Select(i => $"{{\"prompt\":\"{prompt} {i}\",\"score\":{i}}}\n")));

    private async Task<(long DatasetId, long ImportId, string Url)> UploadUrlAsync()
    {
        var api = service.Client();
        var datasetId = await api.NewDatasetAsync();
        await ApiClient.ExpectJsonAsync(await api.Http.PutAsync($"/datasets/{datasetId}/schema", new StringContent(Schema, Encoding.UTF8, "application/json")),
            HttpStatusCode.OK);
        var url = await ApiClient.ExpectJsonAsync(await api.Http.GetAsync($"/datasets/{datasetId}/upload-url/tasks.jsonl"), HttpStatusCode.Created);
        return (datasetId, long.Parse(url.GetProperty("import_id").GetString()!), new Uri(url.GetProperty("upload_url").GetString()!).PathAndQuery);
    }

    /// <summary>An anonymous PUT, as S3-style clients send it.</summary>
    private async Task<HttpResponseMessage> Put(string url, string body)
    {
        using var anonymous = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{service.HttpPort}") };
        var response = await anonymous.PutAsync(url, new StringContent(body, Encoding.UTF8, "application/x-ndjson"));
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    private async Task WaitForClaimAsync(long importId, bool claimed)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await service.ScalarAsync("SELECT count(*) FROM dp.import_jobs WHERE id = @id AND upload_file_id IS NOT NULL", importId) == 1) != claimed)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"The URL of import {importId} was never {(claimed ? "claimed" : "released")}.");
            await Task.Delay(20);
        }
    }

    private async Task<JsonElement> WaitForImportAsync(long datasetId, long importId)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var import = await ApiClient.ExpectJsonAsync(await service.Client().Http.GetAsync($"/datasets/{datasetId}/imports/{importId}"), HttpStatusCode.OK);
            if (import.GetProperty("status").GetString() is "complete" or "partial" or "failed") return import;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Import {importId} did not finish.");
            await Task.Delay(100);
        }
    }
}
