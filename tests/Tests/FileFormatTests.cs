using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using DatasetPlatform.Tests.Infrastructure;
using Parquet;
using Parquet.Schema;

namespace DatasetPlatform.Tests;

/// <summary>Parquet uploads keep their own types; XLSX downloads open as spreadsheets and are refused above the row limit.</summary>
[Collection(nameof(PlatformCollection))]
public sealed class FileFormatTests(PlatformFixture platform)
{
    private HttpClient Bearer()
    {
        var http = platform.RawClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", platform.AdminKey);
        return http;
    }

    private async Task<string> UploadAsync(byte[] file, string fileName)
    {
        var project = (await platform.Client().GetJsonAsync($"/repositories/{await platform.Client().CreateRepositoryAsync()}")).GetProperty("id").GetInt64();
        var content = new MultipartFormDataContent
        {
            { new StringContent(project.ToString()), "project_id" },
            { new StringContent("fmt-" + Guid.NewGuid().ToString("N")[..8]), "name" },
            { new ByteArrayContent(file), "file", fileName },
        };
        return (await ApiClient.ExpectJsonAsync(await Bearer().PostAsync("/api/datasets/upload", content), HttpStatusCode.Created)).GetProperty("dataset_id").GetString()!;
    }

    [Fact]
    public async Task A_parquet_upload_keeps_its_types()
    {
        var id = new DataField<int>("id");
        var amount = new DataField<double?>("amount");
        var name = new DataField<string>("name");
        var flag = new DataField<bool>("flag");
        var when = new DataField<DateTime>("when");
        using var buffer = new MemoryStream();
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(id, amount, name, flag, when), buffer))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(id, (ReadOnlyMemory<int>)new[] { 1, 2, 3 });
            await group.WriteAsync(amount, (ReadOnlyMemory<double?>)new double?[] { 1.5, null, -2.25 });
            await group.WriteAsync(name, new[] { "a", "b, with comma", "ç" });
            await group.WriteAsync(flag, (ReadOnlyMemory<bool>)new[] { true, false, true });
            await group.WriteAsync(when, (ReadOnlyMemory<DateTime>)new[] { new DateTime(2025, 1, 2, 3, 4, 5, DateTimeKind.Utc), new DateTime(2025, 1, 3), new DateTime(2025, 1, 4) });
        }
        var datasetId = await UploadAsync(buffer.ToArray(), "data.parquet");

        var columns = await ApiClient.ExpectJsonAsync(await Bearer().GetAsync($"/api/datasets/{datasetId}/columns"), HttpStatusCode.OK);
        Assert.Equal(["int64", "float64", "object", "bool", "datetime64"], columns.GetProperty("columns").EnumerateArray().Select(c => c.GetProperty("dtype").GetString()));
        var csv = await (await Bearer().GetAsync($"/api/datasets/{datasetId}/download")).Content.ReadAsStringAsync();
        Assert.Equal("id,amount,name,flag,when\n1,1.5,a,true,2025-01-02 03:04:05\n2,,\"b, with comma\",false,2025-01-03 00:00:00\n3,-2.25,ç,true,2025-01-04 00:00:00\n", csv);
    }

    [Theory]
    [InlineData(',')]
    [InlineData(';')]
    [InlineData('\t')]
    [InlineData('|')]
    public async Task A_csv_delimited_by_comma_semicolon_tab_or_pipe_loads_its_columns_through_the_alphacast_upload(char delimiter)
    {
        const string manifest = """
            [{"sourceName":"Date","dataType":"Date","isEntity":true,"dateFormat":"%Y-%m-%d"},{"sourceName":"Country","dataType":"String","isEntity":true},
             {"sourceName":"Amount","dataType":"Decimal"}]
            """;
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        var csv = string.Join(delimiter, "Date", "Country", "Amount") + "\n" + string.Join(delimiter, "2021-01-01", "USA", "1.5") + "\n"
            + string.Join(delimiter, "2021-01-02", "ARG", "2") + "\n";
        var process = await api.UploadAndWaitAsync(datasetId, csv, manifest);
        Assert.True(process.GetProperty("status").GetString() == "Processed", process.ToString());
        var rows = (await api.DownloadAsync(datasetId)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, rows.Length);
        Assert.Contains("USA", rows[1..].Single(r => r.Contains("2021-01-01")));
        Assert.Contains("1.5", rows[1..].Single(r => r.Contains("2021-01-01")));
    }

    [Fact]
    public async Task A_corrupt_parquet_file_is_a_422_with_the_reason()
    {
        var project = (await platform.Client().GetJsonAsync($"/repositories/{await platform.Client().CreateRepositoryAsync()}")).GetProperty("id").GetInt64();
        var content = new MultipartFormDataContent
        {
            { new StringContent(project.ToString()), "project_id" },
            { new StringContent("bad-" + Guid.NewGuid().ToString("N")[..8]), "name" },
            { new ByteArrayContent(Encoding.UTF8.GetBytes("this is not parquet")), "file", "data.parquet" },
        };
        Assert.Contains("Parquet", await ApiClient.ExpectProblemAsync(await Bearer().PostAsync("/api/datasets/upload", content), HttpStatusCode.UnprocessableEntity));
    }

    [Fact]
    public async Task Xlsx_downloads_open_as_a_workbook_and_big_ones_are_refused()
    {
        var datasetId = await UploadAsync(Encoding.UTF8.GetBytes("name,value,flag\nalpha,1.5,true\nbeta & co,2,false\n"), "small.csv");
        var response = await Bearer().GetAsync($"/api/datasets/{datasetId}/download?format=xlsx");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", response.Content.Headers.ContentType?.MediaType);
        using var zip = new ZipArchive(new MemoryStream(await response.Content.ReadAsByteArrayAsync()));
        Assert.NotNull(zip.GetEntry("xl/workbook.xml"));
        using var sheet = new StreamReader(zip.GetEntry("xl/worksheets/sheet1.xml")!.Open());
        var xml = System.Xml.Linq.XDocument.Parse(await sheet.ReadToEndAsync());
        var rows = xml.Descendants().Where(e => e.Name.LocalName == "row").ToList();
        Assert.Equal(3, rows.Count);
        Assert.Equal(["beta & co", "2", "0"], rows[2].Elements().Select(c => c.Value));

        var big = "n\n" + string.Concat(Enumerable.Range(0, PlatformFixture.MaxXlsxRows + 1).Select(i => $"{i}\n"));
        var bigId = await UploadAsync(Encoding.UTF8.GetBytes(big), "big.csv");
        Assert.Contains("use csv", (await ApiClient.ExpectProblemAsync(await Bearer().GetAsync($"/api/datasets/{bigId}/download?format=xlsx"), HttpStatusCode.BadRequest)).ToLowerInvariant());
        Assert.Equal(HttpStatusCode.OK, (await Bearer().GetAsync($"/api/datasets/{bigId}/download?format=csv")).StatusCode);
        // The limit counts what would be sent: a page of a big dataset is fine.
        await using var connection = new Npgsql.NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        await using var lookup = new Npgsql.NpgsqlCommand("SELECT id FROM dp.datasets WHERE uid = @uid", connection);
        lookup.Parameters.AddWithValue("uid", Guid.Parse(bigId));
        var numericId = (long)(await lookup.ExecuteScalarAsync())!;
        var page = await platform.Client().Http.GetAsync($"/datasets/{numericId}/data?$format=xlsx&$top=5");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        // $last means nothing without a date column, so it cannot shrink what is sent below the limit.
        await ApiClient.ExpectProblemAsync(await platform.Client().Http.GetAsync($"/datasets/{numericId}/data?$format=xlsx&$last=1"), HttpStatusCode.BadRequest);

        // The Alphacast surface serves the same workbook for $format=xlsx.
        var api = platform.Client();
        var alphacastId = await api.NewDatasetAsync();
        await api.UploadAndWaitAsync(alphacastId, "Date,Country,Value\n2020-01-01,USA,1\n", ApiClient.DateCountryManifest);
        var alphacast = await api.Http.GetAsync($"/datasets/{alphacastId}/data?$format=xlsx");
        Assert.Equal(HttpStatusCode.OK, alphacast.StatusCode);
        using var alphaZip = new ZipArchive(new MemoryStream(await alphacast.Content.ReadAsByteArrayAsync()));
        Assert.NotNull(alphaZip.GetEntry("xl/worksheets/sheet1.xml"));
    }

    [Fact]
    public async Task Xlsx_of_a_wide_dataset_is_bounded_in_cells_not_only_rows()
    {
        // 200 columns x 30 rows: under the row limit, over the cell limit; the workbook would be built whole before sending.
        const int width = 200, rows = 30;
        Assert.True(rows <= PlatformFixture.MaxXlsxRows && (long)width * rows > PlatformFixture.MaxXlsxCells);
        var csv = new StringBuilder(string.Join(",", Enumerable.Range(0, width).Select(c => $"col{c}")) + "\n");
        for (var r = 0; r < rows; r++) csv.Append(string.Join(",", Enumerable.Range(0, width).Select(c => r * width + c))).Append('\n');
        var wideId = await UploadAsync(Encoding.UTF8.GetBytes(csv.ToString()), "wide.csv");

        var refused = await ApiClient.ExpectProblemAsync(await Bearer().GetAsync($"/api/datasets/{wideId}/download?format=xlsx"), HttpStatusCode.BadRequest);
        Assert.Contains("MAX_XLSX_CELLS", refused);
        await using var connection = new Npgsql.NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        await using var lookup = new Npgsql.NpgsqlCommand("SELECT id FROM dp.datasets WHERE uid = @uid", connection);
        lookup.Parameters.AddWithValue("uid", Guid.Parse(wideId));
        var numericId = (long)(await lookup.ExecuteScalarAsync())!;
        await ApiClient.ExpectProblemAsync(await platform.Client().Http.GetAsync($"/datasets/{numericId}/data?$format=xlsx"), HttpStatusCode.BadRequest);
        // Fewer rows, or fewer columns, fit.
        Assert.Equal(HttpStatusCode.OK, (await platform.Client().Http.GetAsync($"/datasets/{numericId}/data?$format=xlsx&$top=10")).StatusCode);
        var narrow = await platform.Client().Http.GetAsync($"/datasets/{numericId}/data?$format=xlsx&$select=col0,col199");
        Assert.Equal(HttpStatusCode.OK, narrow.StatusCode);
        using var zip = new ZipArchive(new MemoryStream(await narrow.Content.ReadAsByteArrayAsync()));
        using var sheet = new StreamReader(zip.GetEntry("xl/worksheets/sheet1.xml")!.Open());
        var xml = System.Xml.Linq.XDocument.Parse(await sheet.ReadToEndAsync());
        Assert.Equal(rows + 1, xml.Descendants().Count(e => e.Name.LocalName == "row"));
    }
}
