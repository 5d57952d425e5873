using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using DatasetPlatform.Tests.Infrastructure;

namespace DatasetPlatform.Tests;

/// <summary>
/// Block datasets are ordered records, not keyed rows: a date column is a value, records may share a date, and a
/// block replaces only the block with its number. Checked through both doors that create block datasets, and the
/// same rule for V4 records with a date field.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class BlockDateColumnTests(PlatformFixture platform)
{
    private static readonly Dictionary<string, string> DatedColumns = new() { ["Date"] = "date", ["Country"] = "string", ["Value"] = "decimal" };

    private static Task<HttpResponseMessage> PatchBlockAsync(HttpClient http, string name, int blockNumber, object[] records) =>
        http.PatchAsJsonAsync($"/Dataset/{name}/data", new { blockNumber, records });

    private static async Task<List<(string? Date, string? Country, double? Value)>> ReadBackAsync(HttpClient http, string name, string query = "")
    {
        var data = await ApiClient.ExpectJsonAsync(await http.GetAsync($"/Dataset/{name}/data{query}"), HttpStatusCode.OK);
        return [.. data.EnumerateArray().Select(r => (
            r.GetProperty("Date").ValueKind == JsonValueKind.Null ? null : r.GetProperty("Date").GetString(),
            r.GetProperty("Country").GetString(),
            r.GetProperty("Value").ValueKind == JsonValueKind.Null ? (double?)null : r.GetProperty("Value").GetDouble()))];
    }

    /// <summary>Out of order, the same date and country in several records and blocks, then block 2 replaced: every record stays, in block order.</summary>
    private static async Task SendDatedBlocksAsync(HttpClient http, string name)
    {
        await ApiClient.ExpectJsonAsync(await PatchBlockAsync(http, name, 2,
            [new { Date = "2020-01-01", Country = "AR", Value = 1.5 }, new { Date = "2020-01-01", Country = "AR", Value = 1.5 }]), HttpStatusCode.OK);
        await ApiClient.ExpectJsonAsync(await PatchBlockAsync(http, name, 1, [new { Date = "2020-01-01", Country = "AR", Value = 7.25 }]), HttpStatusCode.OK);
        await ApiClient.ExpectJsonAsync(await PatchBlockAsync(http, name, 0,
            [new object[] { "2019-12-31", "US", 3 }, new { Date = (string?)null, Country = "UY", Value = (double?)null }]), HttpStatusCode.OK);
        await ApiClient.ExpectJsonAsync(await PatchBlockAsync(http, name, 2,
            [new { Date = "2020-01-02", Country = "AR", Value = 2 }, new { Date = "2020-01-01", Country = "AR", Value = 7.25 }, new { Date = "2020-01-02", Country = "BR", Value = -1 }]),
            HttpStatusCode.OK);
    }

    private static readonly (string?, string?, double?)[] Expected =
    [
        ("2019-12-31", "US", 3), (null, "UY", null),
        ("2020-01-01", "AR", 7.25),
        ("2020-01-02", "AR", 2), ("2020-01-01", "AR", 7.25), ("2020-01-02", "BR", -1),
    ];

    [Fact]
    public async Task A_date_column_in_a_Data8_dataset_is_a_value_and_blocks_keep_their_order()
    {
        var api = platform.Client();
        var name = "dated-" + Guid.NewGuid().ToString("N")[..8];
        var created = await ApiClient.ExpectJsonAsync(await api.Http.PostAsJsonAsync("/Dataset", new { name, columns = DatedColumns, input = true }), HttpStatusCode.Created);
        var datasetId = created.GetProperty("id").GetInt64();

        await SendDatedBlocksAsync(api.Http, name);
        Assert.Equal(Expected, await ReadBackAsync(api.Http, name));
        var described = await ApiClient.ExpectJsonAsync(await api.Http.GetAsync($"/Dataset/{name}"), HttpStatusCode.OK);
        Assert.Equal(6, described.GetProperty("recordCount").GetInt64());
        Assert.Equal("datetime64", described.GetProperty("columns").GetProperty("Date").GetString());

        // Every other read path agrees: columns in declared order, no key columns, the last records in block order.
        Assert.Equal("Date,Country,Value\n2019-12-31,US,3\n,UY,\n2020-01-01,AR,7.25\n2020-01-02,AR,2\n2020-01-01,AR,7.25\n2020-01-02,BR,-1\n",
            await api.DownloadAsync(datasetId));
        Assert.Equal("Date,Country,Value\n2020-01-01,AR,7.25\n2020-01-02,BR,-1\n", await api.DownloadAsync(datasetId, "?$last=2"));
        var columns = (await api.GetJsonAsync($"/datasets/{datasetId}/columns")).GetProperty("columnDefinitions").EnumerateArray().ToList();
        Assert.All(columns, c => Assert.False(c.GetProperty("isEntity").GetBoolean()));
        var stats = await api.GetJsonAsync($"/datasets/{datasetId}/date-stats");
        Assert.Equal(6, stats.GetProperty("rows").GetInt64());
        Assert.Equal("2019-12-31", stats.GetProperty("minDate").GetString());
        Assert.Equal("2020-01-02", stats.GetProperty("maxDate").GetString());

        var processes = await api.GetJsonAsync($"/datasets/{datasetId}/processes");
        Assert.Equal(4, processes.GetArrayLength());
        Assert.All(processes.EnumerateArray(), p => Assert.Equal("Processed", p.GetProperty("status").GetString()));

        // Its columns are fixed once it holds records, through the Alphacast doors too.
        var manifest = new StringContent("""[{"sourceName":"Date","dataType":"Date","isEntity":true},{"sourceName":"Country","dataType":"String","isEntity":true}]""",
            Encoding.UTF8, "application/json");
        await ApiClient.ExpectProblemAsync(await api.Http.PutAsync($"/datasets/{datasetId}/manifest", manifest), HttpStatusCode.Conflict);
        await ApiClient.ExpectProblemAsync(await api.Http.PutAsync($"/datasets/{datasetId}/columns/initializer",
            ApiClient.Form(("dateColumnName", "Date"), ("entitiesColumnNames", "Country"))), HttpStatusCode.BadRequest);
        Assert.Equal(Expected, await ReadBackAsync(api.Http, name));
    }

    [Fact]
    public async Task A_date_column_in_a_blocks_mode_dataset_is_a_value_and_blocks_keep_their_order()
    {
        var api = platform.Client();
        var repositoryId = await api.CreateRepositoryAsync();
        var name = "dated-" + Guid.NewGuid().ToString("N")[..8];
        var created = await ApiClient.ExpectJsonAsync(await api.Http.PostAsJsonAsync("/datasets", new { name, repositoryId, mode = "blocks", columns = DatedColumns }),
            HttpStatusCode.Created);
        var datasetId = created.GetProperty("id").GetInt64();
        // Before any record, the columns already say that nothing is a key.
        var columns = (await api.GetJsonAsync($"/datasets/{datasetId}/columns")).GetProperty("columnDefinitions").EnumerateArray().ToList();
        Assert.Equal(["Date", "Country", "Value"], columns.Select(c => c.GetProperty("sourceName").GetString()));
        Assert.All(columns, c => Assert.False(c.GetProperty("isEntity").GetBoolean()));

        await SendDatedBlocksAsync(api.Http, name);
        Assert.Equal(Expected, await ReadBackAsync(api.Http, name));
        var lines = (await api.DownloadAsync(datasetId, "?$format=json")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(6, lines.Length);
        Assert.Equal("2019-12-31", JsonDocument.Parse(lines[0]).RootElement.GetProperty("Date").GetString());
        Assert.Equal(7.25, JsonDocument.Parse(lines[2]).RootElement.GetProperty("Value").GetDouble());
    }

    [Fact]
    public async Task A_date_field_in_V4_records_is_a_value_and_records_are_appended()
    {
        var datasetId = await platform.Client().NewDatasetAsync();
        var token = platform.RawClient();
        token.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Token", platform.AdminKey);
        await ApiClient.ExpectJsonAsync(await token.PutAsync($"/datasets/{datasetId}/schema",
            new StringContent("""{"strict": true, "fields": {"day": {"type": "date"}, "score": {"type": "integer"}}}""", Encoding.UTF8, "application/json")),
            HttpStatusCode.OK);

        async Task<JsonElement> UploadAsync(string body)
        {
            var url = await ApiClient.ExpectJsonAsync(await token.GetAsync($"/datasets/{datasetId}/upload-url/day.jsonl"), HttpStatusCode.Created);
            var content = new StringContent(body, Encoding.UTF8);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/x-ndjson");
            Assert.Equal(HttpStatusCode.OK, (await platform.RawClient().PutAsync(new Uri(url.GetProperty("upload_url").GetString()!).PathAndQuery, content)).StatusCode);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                var import = await ApiClient.ExpectJsonAsync(await token.GetAsync($"/datasets/{datasetId}/imports/{url.GetProperty("import_id").GetString()}"), HttpStatusCode.OK);
                if (import.GetProperty("status").GetString() is "complete" or "partial" or "failed") return import;
                Assert.True(DateTime.UtcNow < deadline, "The import did not finish.");
                await Task.Delay(100);
            }
        }

        var first = await UploadAsync("{\"day\": \"2024-05-01\", \"score\": 1}\n{\"day\": \"2024-05-01\", \"score\": 1}\n");
        Assert.Equal("complete", first.GetProperty("status").GetString());
        Assert.Equal(2, first.GetProperty("accepted_count").GetInt64());
        var second = await UploadAsync("{\"day\": \"2024-05-01\", \"score\": 2}\n");
        Assert.Equal("complete", second.GetProperty("status").GetString());
        Assert.Equal("day,score\n2024-05-01,1\n2024-05-01,1\n2024-05-01,2\n", await platform.Client().DownloadAsync(datasetId));
    }
}
