using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using DatasetPlatform.Tests.Infrastructure;

namespace DatasetPlatform.Tests;

/// <summary>Seed 003: OAuth client-credentials tokens and numbered block uploads to input datasets.</summary>
[Collection(nameof(PlatformCollection))]
public sealed class BlockUploadTests(PlatformFixture platform)
{
    /// <summary>A Data8-style client: POST /connect/token with the key's id and secret, then Bearer on every call.</summary>
    private async Task<HttpClient> BearerClientAsync()
    {
        var admin = platform.Client();
        var created = await ApiClient.ExpectJsonAsync(await admin.Http.PostAsync("/keys", ApiClient.Form(("name", "data8 user"))), HttpStatusCode.Created);
        var token = await ApiClient.ExpectJsonAsync(await platform.RawClient().PostAsync("/connect/token", ApiClient.Form(
            ("grant_type", "client_credentials"), ("client_id", created.GetProperty("id").GetString()!), ("client_secret", created.GetProperty("key").GetString()!))),
            HttpStatusCode.OK);
        Assert.Equal("Bearer", token.GetProperty("token_type").GetString());
        Assert.True(token.GetProperty("expires_in").GetInt32() > 0);
        var http = platform.RawClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token.GetProperty("access_token").GetString());
        return http;
    }

    private static async Task<string> CreateInputDatasetAsync(HttpClient http)
    {
        var name = "input-" + Guid.NewGuid().ToString("N")[..8];
        var response = await http.PostAsJsonAsync("/Dataset", new { name, columns = new Dictionary<string, string> { ["Name"] = "string", ["Age"] = "integer" }, input = true });
        var created = await ApiClient.ExpectJsonAsync(response, HttpStatusCode.Created);
        Assert.True(created.GetProperty("input").GetBoolean());
        return name;
    }

    private static Task<HttpResponseMessage> PatchBlockAsync(HttpClient http, string name, int blockNumber, object[] records) =>
        http.PatchAsJsonAsync($"/Dataset/{name}/data", new { blockNumber, records });

    private static async Task<List<(string Name, long Age)>> ReadBackAsync(HttpClient http, string name)
    {
        var data = await ApiClient.ExpectJsonAsync(await http.GetAsync($"/Dataset/{name}/data"), HttpStatusCode.OK);
        return [.. data.EnumerateArray().Select(r => (r.GetProperty("Name").GetString()!, r.GetProperty("Age").GetInt64()))];
    }

    [Fact]
    public async Task Blocks_read_back_by_block_number_then_submission_order_and_overwrite()
    {
        var http = await BearerClientAsync();
        var name = await CreateInputDatasetAsync(http);

        await ApiClient.ExpectJsonAsync(await PatchBlockAsync(http, name, 2, [new { Name = "c", Age = 3 }, new { Name = "d", Age = 4 }]), HttpStatusCode.OK);
        await ApiClient.ExpectJsonAsync(await PatchBlockAsync(http, name, 0, [new { Name = "a", Age = 1 }]), HttpStatusCode.OK);
        // Array records are values in column order.
        await ApiClient.ExpectJsonAsync(await PatchBlockAsync(http, name, 1, [new object[] { "b", 2 }, new object[] { "b2", 22 }]), HttpStatusCode.OK);
        Assert.Equal([("a", 1L), ("b", 2L), ("b2", 22L), ("c", 3L), ("d", 4L)], await ReadBackAsync(http, name));

        // The same block number again replaces that block's records.
        await ApiClient.ExpectJsonAsync(await PatchBlockAsync(http, name, 1, [new { Name = "B", Age = 20 }]), HttpStatusCode.OK);
        Assert.Equal([("a", 1L), ("B", 20L), ("c", 3L), ("d", 4L)], await ReadBackAsync(http, name));

        var described = await ApiClient.ExpectJsonAsync(await http.GetAsync($"/Dataset/{name}"), HttpStatusCode.OK);
        Assert.Equal(4, described.GetProperty("recordCount").GetInt64());
        Assert.False(described.GetProperty("completed").GetBoolean());
        Assert.Equal("int64", described.GetProperty("columns").GetProperty("Age").GetString());

        // The generic download sees the same order.
        var csv = await new ApiClient(http, platform.AdminKey).DownloadAsync(described.GetProperty("id").GetInt64());
        Assert.Equal("Name,Age\na,1\nB,20\nc,3\nd,4\n", csv);
    }

    [Fact]
    public async Task Invalid_blocks_are_400_problems_with_errors_and_store_nothing()
    {
        var http = await BearerClientAsync();
        var name = await CreateInputDatasetAsync(http);

        var tooMany = Enumerable.Range(0, 1001).Select(i => (object)new { Name = $"n{i}", Age = i }).ToArray();
        var response = await PatchBlockAsync(http, name, 0, tooMany);
        await ApiClient.ExpectProblemAsync(response, HttpStatusCode.BadRequest);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Contains("1001", body.GetProperty("errors").GetProperty("records")[0].GetString());

        var badValues = await PatchBlockAsync(http, name, 0, [new { Name = "x", Age = "old" }, new { Name = "y", Colour = "red" }, new object[] { "too", "many", "values" }]);
        await ApiClient.ExpectProblemAsync(badValues, HttpStatusCode.BadRequest);
        var badBody = await badValues.Content.ReadAsStringAsync();
        var errors = JsonDocument.Parse(badBody).RootElement.GetProperty("errors");
        Assert.True(errors.TryGetProperty("records[0].Age", out _));
        Assert.True(errors.TryGetProperty("records[1].colour", out _), badBody); // the client serializer camel-cases property names
        Assert.True(errors.TryGetProperty("records[2]", out _));

        var noNumber = await http.PatchAsJsonAsync($"/Dataset/{name}/data", new { records = new[] { new { Name = "x", Age = 1 } } });
        await ApiClient.ExpectProblemAsync(noNumber, HttpStatusCode.BadRequest);
        Assert.Empty(await ReadBackAsync(http, name));
    }

    [Fact]
    public async Task A_block_whose_text_is_not_utf8_is_a_400_and_stores_nothing()
    {
        var http = await BearerClientAsync();
        var name = await CreateInputDatasetAsync(http);
        // Latin-1 'é' (0xE9) inside a string value: not UTF-8, so not JSON text.
        byte[] body = [.. "{\"blockNumber\":0,\"records\":[{\"Name\":\"Ren"u8, 0xE9, .. "\",\"Age\":30}]}"u8];
        var response = await http.PatchAsync($"/Dataset/{name}/data", new ByteArrayContent(body) { Headers = { ContentType = new("application/json") } });
        await ApiClient.ExpectProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("UTF-8", await response.Content.ReadAsStringAsync());
        Assert.Empty(await ReadBackAsync(http, name));

        // The same record as UTF-8 is stored as sent.
        var stored = await PatchBlockAsync(http, name, 0, [new { Name = "Ren\u00e9", Age = 30 }]);
        Assert.Equal(HttpStatusCode.OK, stored.StatusCode);
        Assert.Equal([("Ren\u00e9", 30L)], await ReadBackAsync(http, name));
    }

    [Fact]
    public async Task Completed_missing_and_non_input_datasets_refuse_blocks()
    {
        var http = await BearerClientAsync();
        var name = await CreateInputDatasetAsync(http);
        await ApiClient.ExpectJsonAsync(await PatchBlockAsync(http, name, 0, [new { Name = "a", Age = 1 }]), HttpStatusCode.OK);
        var completed = await ApiClient.ExpectJsonAsync(await http.PutAsJsonAsync($"/Dataset/{name}", new { completed = true }), HttpStatusCode.OK);
        Assert.True(completed.GetProperty("completed").GetBoolean());
        Assert.Contains("completed", await ApiClient.ExpectProblemAsync(await PatchBlockAsync(http, name, 1, [new { Name = "b", Age = 2 }]), HttpStatusCode.BadRequest));

        await ApiClient.ExpectProblemAsync(await PatchBlockAsync(http, "no-such-dataset", 0, [new { Name = "b", Age = 2 }]), HttpStatusCode.NotFound);

        var output = "output-" + Guid.NewGuid().ToString("N")[..8];
        await ApiClient.ExpectJsonAsync(await http.PostAsJsonAsync("/Dataset", new { name = output, columns = new Dictionary<string, string> { ["X"] = "string" }, input = false }),
            HttpStatusCode.Created);
        Assert.Contains("not an input dataset", await ApiClient.ExpectProblemAsync(await PatchBlockAsync(http, output, 0, [new { X = "a" }]), HttpStatusCode.BadRequest));
    }

    [Fact]
    public async Task Token_endpoint_rejects_bad_credentials_and_bad_tokens_are_401()
    {
        var anonymous = platform.RawClient();
        var wrong = await anonymous.PostAsync("/connect/token", ApiClient.Form(("grant_type", "client_credentials"), ("client_id", "nobody"), ("client_secret", "dp_0000000000000000_x")));
        await ApiClient.ExpectProblemAsync(wrong, HttpStatusCode.Unauthorized);
        Assert.Equal("invalid_client", JsonDocument.Parse(await wrong.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString());
        var grant = await anonymous.PostAsync("/connect/token", ApiClient.Form(("grant_type", "password")));
        await ApiClient.ExpectProblemAsync(grant, HttpStatusCode.BadRequest);

        var forged = platform.RawClient();
        forged.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "dpt.eyJub3QiOiJyZWFsIn0.c2lnbmF0dXJl");
        await ApiClient.ExpectProblemAsync(await forged.GetAsync("/datasets"), HttpStatusCode.Unauthorized);

        // A token signed by the server but past its expiry (signed here with the server's own secret) is refused.
        await BearerClientAsync(); // makes sure the access-token secret exists
        await using (var connection = new Npgsql.NpgsqlConnection(platform.ConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new Npgsql.NpgsqlCommand("SELECT value FROM dp.secrets WHERE name = 'access-token'", connection);
            var secret = (byte[])(await command.ExecuteScalarAsync())!;
            var keyId = platform.AdminKey.Split('_')[1];
            var payload = System.Text.Encoding.UTF8.GetBytes($"{keyId}:{DateTimeOffset.UtcNow.AddSeconds(-5).ToUnixTimeSeconds()}");
            var mac = System.Security.Cryptography.HMACSHA256.HashData(secret, payload);
            var expired = platform.RawClient();
            expired.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer",
                $"dpt.{System.Buffers.Text.Base64Url.EncodeToString(payload)}.{System.Buffers.Text.Base64Url.EncodeToString(mac)}");
            await ApiClient.ExpectProblemAsync(await expired.GetAsync("/datasets"), HttpStatusCode.Unauthorized);
        }

        // A raw API key is accepted as a Bearer token too.
        var raw = platform.RawClient();
        raw.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", platform.AdminKey);
        Assert.Equal(HttpStatusCode.OK, (await raw.GetAsync("/datasets")).StatusCode);
    }

    [Fact]
    public async Task Blocks_and_csv_imports_share_the_dataset_queue()
    {
        var api = platform.Client();
        var repositoryId = await api.CreateRepositoryAsync();
        var created = await ApiClient.ExpectJsonAsync(await api.Http.PostAsJsonAsync("/datasets",
            new { name = "mixed", repositoryId, mode = "blocks", columns = new Dictionary<string, string> { ["Name"] = "string", ["Age"] = "integer" } }), HttpStatusCode.Created);
        Assert.Equal("blocks", created.GetProperty("mode").GetString());
        var datasetId = created.GetProperty("id").GetInt64();
        await ApiClient.ExpectJsonAsync(await PatchBlockAsync(api.Http, "mixed", 0, [new { Name = "first", Age = 1 }]), HttpStatusCode.OK);
        // Files go to table datasets; a block dataset takes records through PATCH only.
        Assert.Contains("block", await ApiClient.ExpectProblemAsync(await api.UploadAsync(datasetId, "Name,Age\nx,1\n"), HttpStatusCode.BadRequest));
        var jobs = await api.GetJsonAsync($"/datasets/{datasetId}/processes");
        Assert.Single(jobs.EnumerateArray());
        Assert.Equal("Processed", jobs[0].GetProperty("status").GetString());
    }
}
