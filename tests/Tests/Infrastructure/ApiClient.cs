using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace DatasetPlatform.Tests.Infrastructure;

/// <summary>Talks to the gateway like an Alphacast client: Basic auth with the key as user name, form posts, multipart uploads.</summary>
public sealed class ApiClient
{
    public const string DateCountryManifest =
        """[{"sourceName":"Date","dataType":"Date","isEntity":true,"dateFormat":"%Y-%m-%d"},{"sourceName":"Country","dataType":"String","isEntity":true}]""";

    public ApiClient(HttpClient http, string key)
    {
        Http = http;
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(key + ":")));
    }

    public HttpClient Http { get; }

    public async Task<long> CreateRepositoryAsync(string privacy = "Private")
    {
        var response = await Http.PostAsync("/repositories", Form(("name", "repo " + Guid.NewGuid().ToString("N")[..8]), ("privacy", privacy), ("description", "test")));
        return (await ExpectJsonAsync(response, HttpStatusCode.Created)).GetProperty("id").GetInt64();
    }

    public async Task<long> CreateDatasetAsync(long repositoryId, string? name = null)
    {
        var response = await Http.PostAsync("/datasets", Form(("name", name ?? "ds " + Guid.NewGuid().ToString("N")[..8]), ("repositoryId", repositoryId.ToString()), ("description", "d")));
        return (await ExpectJsonAsync(response, HttpStatusCode.Created)).GetProperty("id").GetInt64();
    }

    public async Task<long> NewDatasetAsync() => await CreateDatasetAsync(await CreateRepositoryAsync());

    public Task<HttpResponseMessage> UploadAsync(long datasetId, string csv, string? manifest = null, string query = "", bool gzip = false,
        string fileName = "data.csv", string field = "data")
    {
        var bytes = Encoding.UTF8.GetBytes(csv);
        if (gzip)
        {
            using var buffer = new MemoryStream();
            using (var zip = new GZipStream(buffer, CompressionLevel.Fastest)) zip.Write(bytes);
            bytes = buffer.ToArray();
        }
        var content = new MultipartFormDataContent();
        if (manifest is not null) content.Add(new StringContent(manifest), "manifest");
        content.Add(new ByteArrayContent(bytes), field, fileName);
        return Http.PutAsync($"/datasets/{datasetId}/data{query}", content);
    }

    /// <summary>Uploads and waits for the process to finish; returns the final process object.</summary>
    public async Task<JsonElement> UploadAndWaitAsync(long datasetId, string csv, string? manifest = null, string query = "", bool gzip = false)
    {
        var response = await UploadAsync(datasetId, csv, manifest, query, gzip);
        var process = await ExpectJsonAsync(response, HttpStatusCode.Created);
        Assert.Equal("Requested", process.GetProperty("status").GetString());
        return await WaitForProcessAsync(datasetId, process.GetProperty("id").GetInt64());
    }

    public async Task<JsonElement> WaitForProcessAsync(long datasetId, long processId, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(90));
        while (true)
        {
            var process = await GetJsonAsync($"/datasets/{datasetId}/processes/{processId}");
            var status = process.GetProperty("status").GetString();
            if (status is "Processed" or "Error") return process;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Process {processId} still {status} after the deadline.");
            await Task.Delay(100);
        }
    }

    public async Task<JsonElement> GetJsonAsync(string path)
    {
        var response = await Http.GetAsync(path);
        return await ExpectJsonAsync(response, HttpStatusCode.OK);
    }

    public async Task<string> DownloadAsync(long datasetId, string query = "")
    {
        var response = await Http.GetAsync($"/datasets/{datasetId}/data{query}");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET data{query} returned {(int)response.StatusCode}: {body}");
        return body;
    }

    public static FormUrlEncodedContent Form(params (string Key, string Value)[] fields) =>
        new(fields.Select(f => new KeyValuePair<string, string>(f.Key, f.Value)));

    public static async Task<JsonElement> ExpectJsonAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} returned {(int)response.StatusCode}, expected {(int)expected}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>Asserts an RFC 7807 body with the Alphacast `message` member; returns the detail.</summary>
    public static async Task<string> ExpectProblemAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await ExpectJsonAsync(response, expected);
        Assert.Equal((int)expected, problem.GetProperty("status").GetInt32());
        var detail = problem.GetProperty("detail").GetString()!;
        Assert.Equal(detail, problem.GetProperty("message").GetString());
        return detail;
    }
}
