using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using DatasetPlatform.Tests.Infrastructure;

namespace DatasetPlatform.Tests;

/// <summary>
/// Downloads pass PostgreSQL's COPY bytes through untouched and write them in large pieces: rows of multi-byte text over
/// many pieces must come back byte for byte, in every format, and a JSON array must stay one array across the pieces.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class DownloadBytesTests(PlatformFixture platform)
{
    // About 90 bytes a row: 3000 rows are a few times the service's 64 KiB write buffer.
    private const int Rows = 3000;

    private static string Label(int i) => $"Zürich, \"日本\" 🙂 ñ-{i}";

    private const string Manifest =
        """[{"sourceName":"Date","dataType":"Date","isEntity":true,"dateFormat":"%Y-%m-%d"},{"sourceName":"Country","dataType":"String","isEntity":true},{"sourceName":"Label","dataType":"String"}]""";

    [Fact]
    public async Task Multi_byte_rows_over_many_buffers_come_back_exactly_as_csv_tsv_and_json_lines()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        var csv = new StringBuilder("Date,Country,Label,Value\n");
        for (var i = 0; i < Rows; i++)
            csv.Append(CultureInfo.InvariantCulture, $"2020-01-01,C{i:D5},\"{Label(i).Replace("\"", "\"\"")}\",{i}.5\n");
        var process = await api.UploadAndWaitAsync(datasetId, csv.ToString(), Manifest);
        Assert.True(process.GetProperty("status").GetString() == "Processed", process.ToString());

        var expectedCsv = Enumerable.Range(0, Rows).Select(i => $"C{i:D5},2020-01-01,\"{Label(i).Replace("\"", "\"\"")}\",{i}.5").Order(StringComparer.Ordinal);
        var downloaded = await api.DownloadAsync(datasetId);
        Assert.StartsWith("Country,Date,Label,Value\n", downloaded);
        Assert.EndsWith("\n", downloaded);
        Assert.Equal(expectedCsv, downloaded.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Order(StringComparer.Ordinal));

        var tsv = await api.DownloadAsync(datasetId, "?$format=tsv");
        Assert.Equal(Enumerable.Range(0, Rows).Select(i => $"C{i:D5}\t2020-01-01\t{Label(i).Replace("\"", "\"\"")}\t{i}.5").Order(StringComparer.Ordinal),
            tsv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(UnquoteTsv).Order(StringComparer.Ordinal));

        var lines = (await api.DownloadAsync(datasetId, "?$format=json")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(Rows, lines.Length);
        var labels = lines.Select(l => JsonDocument.Parse(l).RootElement).ToDictionary(r => r.GetProperty("Country").GetString()!, r => r.GetProperty("Label").GetString());
        Assert.All(Enumerable.Range(0, Rows), i => Assert.Equal(Label(i), labels[$"C{i:D5}"]));

        // The same bytes filtered, and an empty result still has its header.
        Assert.Equal(["Country,Date,Label,Value", $"C00007,2020-01-01,\"{Label(7).Replace("\"", "\"\"")}\",7.5"],
            (await api.DownloadAsync(datasetId, "?$filter=Country eq 'C00007'")).Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("Country,Date,Label,Value\n", await api.DownloadAsync(datasetId, "?$filter=Country eq 'nobody'"));
    }

    [Fact]
    public async Task A_block_dataset_larger_than_the_buffer_reads_back_as_one_json_array_in_block_order()
    {
        var admin = platform.Client();
        var created = await ApiClient.ExpectJsonAsync(await admin.Http.PostAsync("/keys", ApiClient.Form(("name", "bytes"))), HttpStatusCode.Created);
        var token = await ApiClient.ExpectJsonAsync(await platform.RawClient().PostAsync("/connect/token", ApiClient.Form(
            ("grant_type", "client_credentials"), ("client_id", created.GetProperty("id").GetString()!), ("client_secret", created.GetProperty("key").GetString()!))),
            HttpStatusCode.OK);
        var http = platform.RawClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token.GetProperty("access_token").GetString());
        var name = "bytes-" + Guid.NewGuid().ToString("N")[..8];
        await ApiClient.ExpectJsonAsync(await http.PostAsJsonAsync("/Dataset",
            new { name, columns = new Dictionary<string, string> { ["Name"] = "string", ["Age"] = "integer" }, input = true }), HttpStatusCode.Created);

        const int PerBlock = 1000;
        for (var block = 2; block >= 0; block--)
        {
            var records = Enumerable.Range(0, PerBlock).Select(i => (object)new { Name = $"{Label(block * PerBlock + i)} {new string('x', 40)}", Age = block * PerBlock + i }).ToArray();
            await ApiClient.ExpectJsonAsync(await http.PatchAsJsonAsync($"/Dataset/{name}/data", new { blockNumber = block, records }), HttpStatusCode.OK);
        }

        var response = await http.GetAsync($"/Dataset/{name}/data");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadAsByteArrayAsync();
        Assert.True(body.Length > 3 * (1 << 16), $"only {body.Length} bytes: the test must cross several write buffers");
        var array = JsonDocument.Parse(body).RootElement;
        Assert.Equal(3 * PerBlock, array.GetArrayLength());
        Assert.Equal(Enumerable.Range(0, 3 * PerBlock).Select(i => (long)i), array.EnumerateArray().Select(r => r.GetProperty("Age").GetInt64()));
        Assert.All(array.EnumerateArray(), r => Assert.Equal($"{Label((int)r.GetProperty("Age").GetInt64())} {new string('x', 40)}", r.GetProperty("Name").GetString()));
    }

    /// <summary>A TSV field with a double quote comes quoted (COPY's csv mode with a tab delimiter).</summary>
    private static string UnquoteTsv(string line) =>
        string.Join('\t', line.Split('\t').Select(f => f.Length >= 2 && f[0] == '"' && f[^1] == '"' ? f[1..^1] : f));
}
