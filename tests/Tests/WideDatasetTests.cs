using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Tests.Infrastructure;

namespace DatasetPlatform.Tests;

/// <summary>
/// Datasets 61 columns wide and as wide as the service accepts (<see cref="DatasetLimits.MaxColumns"/>), uploaded through
/// the Alphacast, seed-004 and Data8 doors and read back through every read path, values compared cell by cell.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class WideDatasetTests(PlatformFixture platform)
{
    private const int Rows = 3;

    /// <summary>
    /// A table of Date, Country and numbered Decimal columns. A third of the values are set (each column has one per three
    /// rows), the rest are missing: a row of 1594 set doubles would not fit PostgreSQL's 8 KB page (see README).
    /// </summary>
    private sealed class WideTable(int width, int rows = Rows, double shift = 0)
    {
        public int Width => width;
        public int RowCount => rows;

        public static string Name(int column) => column switch { 0 => "Date", 1 => "Country", _ => $"V{column}" };

        public string? Value(int row, int column) => column switch
        {
            0 => $"2020-01-{row + 1:00}",
            1 => $"C{row}",
            _ => (row + column) % 3 == 0 ? (row * 10000 + column + 0.5 + shift).ToString(CultureInfo.InvariantCulture) : null,
        };

        public string Csv(char separator = ',')
        {
            var text = new StringBuilder(string.Join(separator, Enumerable.Range(0, width).Select(Name))).Append('\n');
            for (var r = 0; r < rows; r++) text.Append(string.Join(separator, Enumerable.Range(0, width).Select(c => Value(r, c) ?? ""))).Append('\n');
            return text.ToString();
        }

        /// <summary>Alphacast's output order: entity columns (Country), then the date, then the values.</summary>
        public int[] AlphacastOrder => [1, 0, .. Enumerable.Range(2, width - 2)];
    }

    private HttpClient Bearer()
    {
        var http = platform.RawClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", platform.AdminKey);
        return http;
    }

    private static List<string[]> ParseDelimited(string text, char separator) =>
        [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split(separator))];

    /// <summary>The rows of a CSV/TSV download, compared with the table in the given column order (rows sorted by date).</summary>
    private static void AssertDelimited(WideTable table, int[] order, string text, char separator, int[]? rows = null)
    {
        var lines = ParseDelimited(text, separator);
        Assert.Equal(order.Select(WideTable.Name), lines[0]);
        var expectedRows = rows ?? [.. Enumerable.Range(0, table.RowCount)];
        var actual = lines.Skip(1).OrderBy(l => l[Array.IndexOf(order, 0)], StringComparer.Ordinal).ToList();
        Assert.Equal(expectedRows.Length, actual.Count);
        for (var i = 0; i < expectedRows.Length; i++)
            Assert.Equal(order.Select(c => table.Value(expectedRows[i], c) ?? ""), actual[i]);
    }

    /// <summary>JSON objects: keys in the given order, numbers as numbers, missing values as null.</summary>
    private static void AssertJsonRows(WideTable table, int[] order, IEnumerable<JsonElement> objects, int[]? rows = null)
    {
        var expectedRows = rows ?? [.. Enumerable.Range(0, table.RowCount)];
        var actual = objects.OrderBy(o => o.GetProperty("Date").GetString(), StringComparer.Ordinal).ToList();
        Assert.Equal(expectedRows.Length, actual.Count);
        for (var i = 0; i < expectedRows.Length; i++)
        {
            var properties = actual[i].EnumerateObject().ToList();
            Assert.Equal(order.Select(WideTable.Name), properties.Select(p => p.Name));
            foreach (var (column, property) in order.Zip(properties))
            {
                var expected = table.Value(expectedRows[i], column);
                var value = property.Value;
                if (expected is null) Assert.Equal(JsonValueKind.Null, value.ValueKind);
                else if (column >= 2) Assert.Equal(double.Parse(expected, CultureInfo.InvariantCulture), value.GetDouble());
                else Assert.StartsWith(expected, value.GetString());
            }
        }
    }

    private static List<List<string>> XlsxRows(byte[] package)
    {
        using var zip = new ZipArchive(new MemoryStream(package));
        using var sheet = new StreamReader(zip.GetEntry("xl/worksheets/sheet1.xml")!.Open());
        var xml = System.Xml.Linq.XDocument.Parse(sheet.ReadToEnd());
        return [.. xml.Descendants().Where(e => e.Name.LocalName == "row").Select(r => r.Elements().Select(c => c.Value).ToList())];
    }

    private static void AssertXlsx(WideTable table, int[] order, byte[] package)
    {
        var rows = XlsxRows(package);
        Assert.Equal(order.Select(WideTable.Name), rows[0]);
        var actual = rows.Skip(1).OrderBy(r => r[Array.IndexOf(order, 0)], StringComparer.Ordinal).ToList();
        Assert.Equal(table.RowCount, actual.Count);
        // Dates and datetimes at midnight are both written as yyyy-MM-dd text; numbers as numbers, missing values as empty cells.
        for (var r = 0; r < table.RowCount; r++)
            Assert.Equal(order.Select(c => table.Value(r, c) ?? ""), actual[r]);
    }

    private async Task<long> AlphacastDatasetAsync(WideTable table)
    {
        var api = platform.Client();
        var id = await api.NewDatasetAsync();
        var process = await api.UploadAndWaitAsync(id, table.Csv(), ApiClient.DateCountryManifest);
        Assert.True(process.GetProperty("status").GetString() == "Processed", process.ToString());
        return id;
    }

    private async Task<JsonElement> Seed004UploadAsync(string csv)
    {
        var project = await platform.Client().CreateRepositoryAsync();
        var content = new MultipartFormDataContent
        {
            { new StringContent(project.ToString(CultureInfo.InvariantCulture)), "project_id" },
            { new StringContent("wide-" + Guid.NewGuid().ToString("N")[..8]), "name" },
            { new ByteArrayContent(Encoding.UTF8.GetBytes(csv)), "file", "wide.csv" },
        };
        return await ApiClient.ExpectJsonAsync(await Bearer().PostAsync("/api/datasets/upload", content), HttpStatusCode.Created);
    }

    private async Task<HttpResponseMessage> AddVersionAsync(string id, string csv)
    {
        var content = new MultipartFormDataContent
        {
            { new StringContent("next"), "description" },
            { new ByteArrayContent(Encoding.UTF8.GetBytes(csv)), "file", "v.csv" },
        };
        return await Bearer().PostAsync($"/api/datasets/{id}/versions", content);
    }

    [Theory]
    [InlineData(61)]
    [InlineData(DatasetLimits.MaxColumns)]
    public async Task Alphacast_dataset_reads_back_through_every_format_and_query_option(int width)
    {
        var table = new WideTable(width);
        var id = await AlphacastDatasetAsync(table);
        var api = platform.Client();
        var order = table.AlphacastOrder;

        AssertDelimited(table, order, await api.DownloadAsync(id), ',');
        AssertDelimited(table, order, await api.DownloadAsync(id, "?$format=tsv"), '\t');
        var lines = (await api.DownloadAsync(id, "?$format=json")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        AssertJsonRows(table, order, lines.Select(l => JsonDocument.Parse(l).RootElement.Clone()));
        var xlsx = await api.Http.GetAsync($"/datasets/{id}/data?$format=xlsx");
        Assert.Equal(HttpStatusCode.OK, xlsx.StatusCode);
        AssertXlsx(table, order, await xlsx.Content.ReadAsByteArrayAsync());

        // $select of every other value column (keys always come first), and $filter on the last column.
        var chosen = Enumerable.Range(2, width - 2).Where(c => c % 2 == 0).ToArray();
        var select = string.Join(",", chosen.Select(WideTable.Name));
        AssertDelimited(table, [1, 0, .. chosen], await api.DownloadAsync(id, $"?$select={select}"), ',');
        var jsonSelected = (await api.DownloadAsync(id, $"?$format=json&$select={select}")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        AssertJsonRows(table, [1, 0, .. chosen], jsonSelected.Select(l => JsonDocument.Parse(l).RootElement.Clone()));
        var last = width - 1;
        var rowWithLast = Enumerable.Range(0, Rows).First(r => table.Value(r, last) is not null);
        var filtered = await api.DownloadAsync(id, $"?$format=json&$filter={Uri.EscapeDataString($"{WideTable.Name(last)} eq {table.Value(rowWithLast, last)}")}");
        AssertJsonRows(table, order, filtered.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()), [rowWithLast]);

        // $top/$skip page in load order, $last takes the latest dates, version=0 is the first load.
        var paged = await api.Http.GetAsync($"/datasets/{id}/data?$top=1&$skip=1");
        Assert.Equal("3", paged.Headers.GetValues("Row-Count").Single());
        AssertDelimited(table, order, await paged.Content.ReadAsStringAsync(), ',', [1]);
        AssertDelimited(table, order, await api.DownloadAsync(id, "?$last=2"), ',', [1, 2]);
        var jsonLast = (await api.DownloadAsync(id, "?$format=json&$last=1")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        AssertJsonRows(table, order, jsonLast.Select(l => JsonDocument.Parse(l).RootElement.Clone()), [2]);
        AssertDelimited(table, order, await api.DownloadAsync(id, "?version=0&$format=csv"), ',');

        // Errors at width are clear 400s.
        Assert.Contains("Nope", await ApiClient.ExpectProblemAsync(await api.Http.GetAsync($"/datasets/{id}/data?$select={select},Nope"), HttpStatusCode.BadRequest));
        Assert.Contains("Nope", await ApiClient.ExpectProblemAsync(await api.Http.GetAsync($"/datasets/{id}/data?$filter=Nope%20eq%201"), HttpStatusCode.BadRequest));

        // Columns and date-stats.
        var columns = await api.GetJsonAsync($"/datasets/{id}/columns");
        Assert.Equal(order.Select(WideTable.Name).Order(), columns.GetProperty("columnDefinitions").EnumerateArray()
            .Select(c => c.GetProperty("sourceName").GetString()!).Order());
        var stats = await api.GetJsonAsync($"/datasets/{id}/date-stats");
        Assert.Equal(3, stats.GetProperty("rows").GetInt64());
    }

    [Fact]
    public async Task Alphacast_version_reads_at_61_columns()
    {
        var first = new WideTable(61);
        var id = await AlphacastDatasetAsync(first);
        var api = platform.Client();
        var second = new WideTable(61, shift: 1);
        var process = await api.UploadAndWaitAsync(id, second.Csv(), ApiClient.DateCountryManifest, "?onConflictUpdateDB=true");
        Assert.Equal("Processed", process.GetProperty("status").GetString());
        AssertDelimited(second, second.AlphacastOrder, await api.DownloadAsync(id), ',');
        var old = (await api.DownloadAsync(id, "?version=0&$format=json")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        AssertJsonRows(first, first.AlphacastOrder, old.Select(l => JsonDocument.Parse(l).RootElement.Clone()));
    }

    [Theory]
    [InlineData(61)]
    [InlineData(DatasetLimits.MaxColumns)]
    public async Task Seed004_dataset_previews_downloads_analyzes_and_compares(int width)
    {
        var table = new WideTable(width);
        var upload = await Seed004UploadAsync(table.Csv());
        var id = upload.GetProperty("dataset_id").GetString()!;
        var order = Enumerable.Range(0, width).ToArray();
        var http = Bearer();

        var detail = await ApiClient.ExpectJsonAsync(await http.GetAsync($"/api/datasets/{id}"), HttpStatusCode.OK);
        Assert.Equal(JsonValueKind.Null, detail.GetProperty("preview_error").ValueKind);
        Assert.Equal(width, detail.GetProperty("dataset").GetProperty("columns").GetInt32());
        AssertJsonRows(table, order, detail.GetProperty("preview").EnumerateArray());

        var csv = await http.GetAsync($"/api/datasets/{id}/download?format=csv");
        Assert.Equal(HttpStatusCode.OK, csv.StatusCode);
        var csvText = await csv.Content.ReadAsStringAsync();
        // The date column is a datetime here (type inference), so it reads back with its time.
        AssertDelimited(table, order, csvText.Replace(" 00:00:00", "", StringComparison.Ordinal), ',');
        var xlsx = await http.GetAsync($"/api/datasets/{id}/download?format=xlsx");
        Assert.Equal(HttpStatusCode.OK, xlsx.StatusCode);
        AssertXlsx(table, order, await xlsx.Content.ReadAsByteArrayAsync());

        var columns = await ApiClient.ExpectJsonAsync(await http.GetAsync($"/api/datasets/{id}/columns"), HttpStatusCode.OK);
        Assert.Equal(width, columns.GetProperty("columns").GetArrayLength());

        var analysis = (await ApiClient.ExpectJsonAsync(await http.GetAsync($"/api/datasets/{id}/analyze"), HttpStatusCode.OK)).GetProperty("statistics");
        Assert.Equal(Rows, analysis.GetProperty("row_count").GetInt64());
        var analyzed = analysis.GetProperty("columns");
        Assert.Equal(width, analyzed.EnumerateObject().Count());
        var lastName = WideTable.Name(width - 1);
        var lastValue = Enumerable.Range(0, Rows).Select(r => table.Value(r, width - 1)).Single(v => v is not null)!;
        Assert.Equal(2, analyzed.GetProperty(lastName).GetProperty("missing").GetInt64());
        Assert.Equal(double.Parse(lastValue, CultureInfo.InvariantCulture), analyzed.GetProperty(lastName).GetProperty("mean").GetDouble());
        Assert.Equal(3, analyzed.GetProperty("Country").GetProperty("unique").GetInt64());

        var quality = (await ApiClient.ExpectJsonAsync(await http.GetAsync($"/api/datasets/{id}/quality"), HttpStatusCode.OK)).GetProperty("quality");
        var missing = quality.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "missing_values");
        Assert.False(missing.GetProperty("passed").GetBoolean());
        Assert.Contains("66.67%", missing.GetProperty("details").GetString());

        var shifted = new WideTable(width, shift: 10);
        var added = await AddVersionAsync(id, shifted.Csv());
        Assert.Equal(1, (await ApiClient.ExpectJsonAsync(added, HttpStatusCode.Created)).GetProperty("version").GetInt32());
        var compare = await ApiClient.ExpectJsonAsync(await http.GetAsync($"/api/datasets/{id}/compare?v1=0&v2=1"), HttpStatusCode.OK);
        var diffs = compare.GetProperty("column_diffs");
        Assert.Equal(width, diffs.EnumerateObject().Count());
        Assert.Equal(double.Parse(lastValue, CultureInfo.InvariantCulture) + 10, diffs.GetProperty(lastName).GetProperty("v2_mean").GetDouble());
        var v0 = await http.GetAsync($"/api/datasets/{id}/download?format=csv&version=0");
        AssertDelimited(table, order, (await v0.Content.ReadAsStringAsync()).Replace(" 00:00:00", "", StringComparison.Ordinal), ',');
    }

    [Theory]
    [InlineData(61)]
    [InlineData(DatasetLimits.MaxColumns)]
    public async Task Data8_block_dataset_reads_back_at_width(int width)
    {
        var table = new WideTable(width);
        var http = Bearer();
        var name = "wide-blocks-" + Guid.NewGuid().ToString("N")[..8];
        // Every column is a decimal here; the "date" and "country" columns carry numbers too.
        var columns = Enumerable.Range(0, width).ToDictionary(WideTable.Name, _ => "decimal");
        var created = await ApiClient.ExpectJsonAsync(await http.PostAsJsonAsync("/Dataset", new { name, columns, input = true }), HttpStatusCode.Created);
        double? Cell(int row, int column) => column < 2 ? row * 100 + column : table.Value(row, column) is { } v ? double.Parse(v, CultureInfo.InvariantCulture) : null;
        var records = Enumerable.Range(0, Rows).Select(r => (object)Enumerable.Range(0, width).Select(c => Cell(r, c)).ToArray()).ToArray();
        var stored = await http.PatchAsJsonAsync($"/Dataset/{name}/data", new { blockNumber = 0, records });
        Assert.Equal(HttpStatusCode.OK, stored.StatusCode);

        var data = await ApiClient.ExpectJsonAsync(await http.GetAsync($"/Dataset/{name}/data"), HttpStatusCode.OK);
        var rows = data.EnumerateArray().ToList();
        Assert.Equal(Rows, rows.Count);
        for (var r = 0; r < Rows; r++)
        {
            var properties = rows[r].EnumerateObject().ToList();
            Assert.Equal(Enumerable.Range(0, width).Select(WideTable.Name), properties.Select(p => p.Name));
            for (var c = 0; c < width; c++)
            {
                if (Cell(r, c) is { } expected) Assert.Equal(expected, properties[c].Value.GetDouble());
                else Assert.Equal(JsonValueKind.Null, properties[c].Value.ValueKind);
            }
        }

        // The same rows through the Alphacast download, as CSV.
        var id = created.GetProperty("id").GetInt64();
        var csv = ParseDelimited(await platform.Client().DownloadAsync(id), ',');
        Assert.Equal(Rows + 1, csv.Count);
        Assert.Equal(width, csv[0].Length);
        Assert.Equal(table.Value(0, width - 1) ?? "", csv[1][width - 1]);
    }

    [Fact]
    public async Task One_column_past_the_widest_is_refused_and_changes_nothing()
    {
        var api = platform.Client();
        var tooWide = new WideTable(DatasetLimits.MaxColumns + 1);

        // Alphacast: the upload is refused (400) or its import fails naming the limit; either way no data appears.
        var id = await api.NewDatasetAsync();
        var response = await api.UploadAsync(id, tooWide.Csv(), ApiClient.DateCountryManifest);
        if (response.StatusCode == HttpStatusCode.Created)
        {
            var process = await api.WaitForProcessAsync(id, (await ApiClient.ExpectJsonAsync(response, HttpStatusCode.Created)).GetProperty("id").GetInt64());
            Assert.Equal("Error", process.GetProperty("status").GetString());
            Assert.Contains(DatasetLimits.MaxColumns.ToString(CultureInfo.InvariantCulture), process.GetProperty("statusDescription").GetString());
        }
        else
        {
            Assert.Contains(DatasetLimits.MaxColumns.ToString(CultureInfo.InvariantCulture), await ApiClient.ExpectProblemAsync(response, HttpStatusCode.BadRequest));
        }
        Assert.Equal("", await api.DownloadAsync(id, "?$format=json"));
        Assert.Equal(0, (await api.GetJsonAsync($"/datasets/{id}/date-stats")).GetProperty("rows").GetInt64());

        // Data8: a schema one column too wide is a 400 that names the limit; nothing is created.
        var http = Bearer();
        var name = "too-wide-" + Guid.NewGuid().ToString("N")[..8];
        var columns = Enumerable.Range(0, DatasetLimits.MaxColumns + 1).ToDictionary(WideTable.Name, _ => "decimal");
        var problem = await ApiClient.ExpectJsonAsync(await http.PostAsJsonAsync("/Dataset", new { name, columns, input = true }), HttpStatusCode.BadRequest);
        Assert.Contains($"at most {DatasetLimits.MaxColumns}", problem.GetProperty("errors").GetProperty("columns")[0].GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/Dataset/{name}")).StatusCode);
    }

    [Fact]
    public async Task Versions_that_retype_columns_count_against_the_limit_and_leave_the_dataset_as_it_was()
    {
        // 900 numeric columns, then the same names holding text: each needs a new storage column (older versions keep
        // theirs), and 1800 is past the limit, so the second version fails naming it and the first stays intact.
        const int width = 900;
        var numbers = new StringBuilder(string.Join(",", Enumerable.Range(0, width).Select(c => $"k{c}"))).Append('\n');
        numbers.Append(string.Join(",", Enumerable.Range(0, width).Select(c => c.ToString(CultureInfo.InvariantCulture)))).Append('\n');
        var upload = await Seed004UploadAsync(numbers.ToString());
        var id = upload.GetProperty("dataset_id").GetString()!;
        var before = await (await Bearer().GetAsync($"/api/datasets/{id}/download?format=csv")).Content.ReadAsStringAsync();

        var text = new StringBuilder(string.Join(",", Enumerable.Range(0, width).Select(c => $"k{c}"))).Append('\n');
        text.Append(string.Join(",", Enumerable.Range(0, width).Select(c => $"t{c}"))).Append('\n');
        var refused = await AddVersionAsync(id, text.ToString());
        Assert.True(refused.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.UnprocessableEntity, $"{refused.StatusCode}");
        Assert.Contains(DatasetLimits.MaxColumns.ToString(CultureInfo.InvariantCulture), await ApiClient.ExpectProblemAsync(refused, refused.StatusCode));

        var versions = await ApiClient.ExpectJsonAsync(await Bearer().GetAsync($"/api/datasets/{id}/versions"), HttpStatusCode.OK);
        Assert.Equal(1, versions.GetProperty("total").GetInt64());
        Assert.Equal(before, await (await Bearer().GetAsync($"/api/datasets/{id}/download?format=csv")).Content.ReadAsStringAsync());
    }
}
