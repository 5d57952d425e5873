using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using DatasetPlatform.Tests.Infrastructure;

namespace DatasetPlatform.Tests;

/// <summary>
/// A block PATCH is bounded before it is buffered, and a small request cannot grow into a large one on the way in: records
/// are checked in time linear in the request, a wrong record gets a 400 naming the field, and a block that would take
/// more than the limit once stored is a 413. The test service runs with MAX_BLOCK_BODY_BYTES = 1 MiB.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class BlockBodyLimitTests(PlatformFixture platform)
{
    private async Task<string> CreateAsync(HttpClient http, Dictionary<string, string> columns)
    {
        var name = "bounded-" + Guid.NewGuid().ToString("N")[..8];
        await ApiClient.ExpectJsonAsync(await http.PostAsJsonAsync("/Dataset", new { name, columns, input = true }), HttpStatusCode.Created);
        return name;
    }

    private static Task<HttpResponseMessage> PatchAsync(HttpClient http, string name, string json, bool announceLength = true)
    {
        HttpContent content = announceLength
            ? new StringContent(json, Encoding.UTF8, "application/json")
            : new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(json))); // no Content-Length: read until the limit
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        if (!announceLength) content.Headers.ContentLength = null;
        return http.PatchAsync($"/Dataset/{name}/data", content);
    }

    private static async Task<JsonElement> ErrorsOfAsync(HttpResponseMessage response)
    {
        await ApiClient.ExpectProblemAsync(response, HttpStatusCode.BadRequest);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("errors");
    }

    [Fact]
    public async Task A_body_over_the_limit_is_413_whether_or_not_it_says_its_length()
    {
        var http = platform.Client().Http;
        var name = await CreateAsync(http, new() { ["Text"] = "string" });
        var big = "{\"blockNumber\": 0, \"records\": [{\"Text\": \"" + new string('x', (int)PlatformFixture.MaxBlockBodyBytes) + "\"}]}";
        Assert.Contains("MAX_BLOCK_BODY_BYTES", await ApiClient.ExpectProblemAsync(await PatchAsync(http, name, big), HttpStatusCode.RequestEntityTooLarge));
        Assert.Contains("MAX_BLOCK_BODY_BYTES", await ApiClient.ExpectProblemAsync(await PatchAsync(http, name, big, announceLength: false),
            HttpStatusCode.RequestEntityTooLarge));
        // Just under the limit is fine (in values shorter than the field limit, MAX_FIELD_CHARS).
        var value = new string('x', PlatformFixture.MaxFieldChars / 2);
        var record = "{\"Text\": \"" + value + "\"}";
        var count = (int)((PlatformFixture.MaxBlockBodyBytes - 100) / (record.Length + 1));
        var fits = "{\"blockNumber\": 0, \"records\": [" + string.Join(",", Enumerable.Repeat(record, count)) + "]}";
        Assert.True(fits.Length > PlatformFixture.MaxBlockBodyBytes - 200 - record.Length, "the body must come close to the limit");
        await ApiClient.ExpectJsonAsync(await PatchAsync(http, name, fits, announceLength: false), HttpStatusCode.OK);
        Assert.Equal(count, (await ApiClient.ExpectJsonAsync(await http.GetAsync($"/Dataset/{name}/data"), HttpStatusCode.OK)).GetArrayLength());
    }

    [Fact]
    public async Task Long_column_names_do_not_multiply_a_small_block()
    {
        var http = platform.Client().Http;
        var longName = "c" + new string('n', 4000);
        var name = await CreateAsync(http, new() { [longName] = "integer", ["Short"] = "string" });

        // 1000 empty records are 3 KB of request and stay that small: only given values are stored.
        var empty = "{\"blockNumber\": 0, \"records\": [" + string.Join(",", Enumerable.Repeat("{}", 1000)) + "]}";
        var stored = await ApiClient.ExpectJsonAsync(await PatchAsync(http, name, empty), HttpStatusCode.OK);
        Assert.Equal(1000, stored.GetProperty("recordCount").GetInt32());
        var records = (await ApiClient.ExpectJsonAsync(await http.GetAsync($"/Dataset/{name}/data"), HttpStatusCode.OK)).EnumerateArray().ToList();
        Assert.Equal(1000, records.Count);
        Assert.All(records, r => Assert.Equal(JsonValueKind.Null, r.GetProperty(longName).ValueKind));

        // 1000 array records of one short value each would need 4 MB once every value carries its 4 KB column name: 413.
        var arrays = "{\"blockNumber\": 1, \"records\": [" + string.Join(",", Enumerable.Repeat("[1, \"a\"]", 1000)) + "]}";
        Assert.Contains("once stored", await ApiClient.ExpectProblemAsync(await PatchAsync(http, name, arrays), HttpStatusCode.RequestEntityTooLarge));
        // The same values as 100 records fit.
        var fewer = "{\"blockNumber\": 1, \"records\": [" + string.Join(",", Enumerable.Repeat("[1, \"a\"]", 100)) + "]}";
        await ApiClient.ExpectJsonAsync(await PatchAsync(http, name, fewer), HttpStatusCode.OK);
        Assert.Equal(1100, (await ApiClient.ExpectJsonAsync(await http.GetAsync($"/Dataset/{name}"), HttpStatusCode.OK)).GetProperty("recordCount").GetInt64());
    }

    [Fact]
    public async Task A_small_body_of_many_tiny_values_is_refused_before_it_is_parsed()
    {
        var http = platform.Client().Http;
        var name = await CreateAsync(http, new() { ["Name"] = "string", ["Age"] = "integer" });
        // 60 KB of request but 30,000 values (each would cost memory in a parsed document): far more than 1000 records of 2 columns need.
        var nested = "{\"blockNumber\": 0, \"records\": [{\"Name\": [" + string.Join(",", Enumerable.Repeat("0", 30_000)) + "]}]}";
        var errors = await ErrorsOfAsync(await PatchAsync(http, name, nested));
        Assert.StartsWith("Too many values", errors.GetProperty("records")[0].GetString());
        // A nested value within that bound is stored as its JSON text.
        await ApiClient.ExpectJsonAsync(await PatchAsync(http, name, """{"blockNumber": 0, "records": [{"Name": [1, 2, 3], "Age": 4}]}"""), HttpStatusCode.OK);
        var record = Assert.Single((await ApiClient.ExpectJsonAsync(await http.GetAsync($"/Dataset/{name}/data"), HttpStatusCode.OK)).EnumerateArray());
        Assert.Equal("[1,2,3]", record.GetProperty("Name").GetString());
    }

    [Fact]
    public async Task Unknown_repeated_and_too_many_fields_are_400s_that_name_the_record()
    {
        var http = platform.Client().Http;
        var name = await CreateAsync(http, new() { ["Name"] = "string", ["Age"] = "integer" });

        var unknown = await ErrorsOfAsync(await PatchAsync(http, name, """{"blockNumber": 0, "records": [{"Name": "a", "Colour": "red"}]}"""));
        Assert.Equal("Unknown column 'Colour'.", unknown.GetProperty("records[0].Colour")[0].GetString());

        var twice = await ErrorsOfAsync(await PatchAsync(http, name, """{"blockNumber": 0, "records": [{"Name": "a", "name": "b"}]}"""));
        Assert.Contains("more than once", twice.GetProperty("records[0].Name")[0].GetString());

        // Thousands of keys in one record: refused as a whole, without a problem per key.
        var keys = string.Join(",", Enumerable.Range(0, 5000).Select(i => $"\"k{i}\": 1"));
        var wide = await ErrorsOfAsync(await PatchAsync(http, name, "{\"blockNumber\": 0, \"records\": [{" + keys + "}]}"));
        Assert.Equal("A record has at most 2 fields (one per column), not 5000.", Assert.Single(wide.EnumerateObject()).Value[0].GetString());

        // A thousand bad records: every problem counted, the first 100 listed.
        var manyBad = "{\"blockNumber\": 0, \"records\": [" + string.Join(",", Enumerable.Range(0, 1000).Select(i => $"{{\"Nope{i}\": 1, \"Other{i}\": 2}}")) + "]}";
        var response = await PatchAsync(http, name, manyBad);
        var errors = await ErrorsOfAsync(response);
        Assert.Equal(100, errors.EnumerateObject().Count());
        var detail = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("detail").GetString();
        Assert.Equal("2000 problem(s) in the block's records; the first 100 are listed.", detail);

        Assert.Empty((await ApiClient.ExpectJsonAsync(await http.GetAsync($"/Dataset/{name}/data"), HttpStatusCode.OK)).EnumerateArray());
    }
}
