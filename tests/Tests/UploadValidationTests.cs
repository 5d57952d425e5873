using System.Net;
using DatasetPlatform.Tests.Infrastructure;

namespace DatasetPlatform.Tests;

/// <summary>Each validation rule fails the process with a clear message and leaves the dataset exactly as it was.</summary>
[Collection(nameof(PlatformCollection))]
public sealed class UploadValidationTests(PlatformFixture platform)
{
    private const string Baseline = "Date,Country,Value\n2020-01-01,USA,1\n2020-01-01,ARG,2\n";

    [Theory]
    [InlineData("Date,Country,Value\n2020-01-01,USA,1\n2020-02-30,ARG,2\n", "Row 2, column 'Date': '2020-02-30' is not a valid date")]
    [InlineData("Country,Value\nUSA,1\n", "Data has no Date column 'Date'")]
    [InlineData("Date,Value\n2021-01-01,1\n", "Missing entity column(s): Country")]
    [InlineData("Date,Country,Value\n", "Data is empty")]
    [InlineData("", "Data is empty")]
    [InlineData("Date,Country,Value\n2021-01-01,,1\n", "Row 1, column 'Country': entity values cannot be null")]
    [InlineData("Date,Country,Value,Extra,More\n2021-01-01,USA,1,2,3\n", "Unknown column(s): Extra, More")]
    [InlineData("Date,Country,Value\n2021-01-01,USA,1\n2021-01-01,USA,2\n2021-01-01,ARG,3\n", "2 rows are duplicated. First 10 rows as example: (Country=USA, Date=2021-01-01) x2")]
    [InlineData("Date,Country,Value\n2021-01-01,USA,1\n2021-01-01,BRA,abc\n", "Row 2, column 'Value': 'abc' is not a valid Decimal")]
    public async Task A_bad_file_fails_the_process_and_changes_nothing(string csv, string expected)
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        await api.UploadAndWaitAsync(datasetId, Baseline, ApiClient.DateCountryManifest);
        var before = await api.DownloadAsync(datasetId);

        var process = await api.UploadAndWaitAsync(datasetId, csv);
        Assert.Equal("Error", process.GetProperty("status").GetString());
        Assert.StartsWith(expected, process.GetProperty("statusDescription").GetString());
        Assert.Equal(before, await api.DownloadAsync(datasetId));
        Assert.Equal(2, (await api.GetJsonAsync($"/datasets/{datasetId}")).GetProperty("total_datapoint_count").GetInt64());

        // The refused file is not kept; the one behind version 0 is.
        await using var connection = new Npgsql.NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT count(*) FROM dp.staged_files WHERE dataset_id = @id", connection);
        command.Parameters.AddWithValue("id", datasetId);
        Assert.Equal(1L, (long)(await command.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task First_upload_without_a_manifest_fails_with_no_manifest()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        var process = await api.UploadAndWaitAsync(datasetId, Baseline);
        Assert.Equal("Error", process.GetProperty("status").GetString());
        Assert.Equal("Dataset has no manifest", process.GetProperty("statusDescription").GetString());

        // Setting the manifest afterwards and uploading again works.
        var put = await api.Http.PutAsync($"/datasets/{datasetId}/manifest",
            new StringContent(ApiClient.DateCountryManifest, System.Text.Encoding.UTF8, "application/json"));
        await ApiClient.ExpectJsonAsync(put, HttpStatusCode.OK);
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(datasetId, Baseline)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_manifest_without_a_date_column_fails_the_process()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        var process = await api.UploadAndWaitAsync(datasetId, Baseline, """[{"sourceName":"Country","dataType":"String","isEntity":true}]""");
        Assert.Equal("Error", process.GetProperty("status").GetString());
        Assert.StartsWith("Data has no Date column", process.GetProperty("statusDescription").GetString());
    }

    [Fact]
    public async Task Out_of_range_short_integer_names_row_and_column()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        const string manifest = """[{"sourceName":"Date","dataType":"Date","isEntity":true},{"sourceName":"Country","dataType":"String","isEntity":true},{"sourceName":"Count","dataType":"Short Integer"}]""";
        var process = await api.UploadAndWaitAsync(datasetId, "Date,Country,Count\n2021-01-01,USA,12\n2021-01-01,ARG,70000\n", manifest);
        Assert.Equal("Error", process.GetProperty("status").GetString());
        Assert.StartsWith("Row 2, column 'Count': 70000 is out of range for Short Integer", process.GetProperty("statusDescription").GetString());
        var error = process.GetProperty("errors")[0];
        Assert.Equal(2, error.GetProperty("row").GetInt64());
        Assert.Equal("Count", error.GetProperty("column").GetString());
        Assert.Equal("", await api.DownloadAsync(datasetId));
    }

    [Fact]
    public async Task Malformed_manifest_or_missing_file_is_a_400()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        var badManifest = await api.UploadAsync(datasetId, Baseline, "{not json");
        Assert.Contains("not valid JSON", await ApiClient.ExpectProblemAsync(badManifest, HttpStatusCode.BadRequest));

        var twoDates = await api.UploadAsync(datasetId, Baseline, """[{"sourceName":"A","dataType":"Date"},{"sourceName":"B","dataType":"Date"}]""");
        Assert.Contains("more than one Date column", await ApiClient.ExpectProblemAsync(twoDates, HttpStatusCode.BadRequest));

        var noFile = new MultipartFormDataContent { { new StringContent(ApiClient.DateCountryManifest), "manifest" } };
        var missing = await api.Http.PutAsync($"/datasets/{datasetId}/data", noFile);
        Assert.Contains("no file", await ApiClient.ExpectProblemAsync(missing, HttpStatusCode.BadRequest));

        var badFlag = await api.UploadAsync(datasetId, Baseline, ApiClient.DateCountryManifest, "?onConflictUpdateDB=maybe");
        Assert.Contains("onConflictUpdateDB", await ApiClient.ExpectProblemAsync(badFlag, HttpStatusCode.BadRequest));
        Assert.Empty((await api.GetJsonAsync($"/datasets/{datasetId}/processes")).EnumerateArray());
    }

    [Fact]
    public async Task Gzip_is_recognised_by_its_bytes_and_file_is_an_alias_field()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        var response = await api.UploadAsync(datasetId, Baseline, ApiClient.DateCountryManifest, gzip: true, fileName: "upload.csv", field: "file");
        var process = await ApiClient.ExpectJsonAsync(response, HttpStatusCode.Created);
        var done = await api.WaitForProcessAsync(datasetId, process.GetProperty("id").GetInt64());
        Assert.Equal("Processed", done.GetProperty("status").GetString());
        Assert.Equal("Country,Date,Value\nUSA,2020-01-01,1\nARG,2020-01-01,2\n", await api.DownloadAsync(datasetId));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_create_body_past_one_mebibyte_is_a_413_and_creates_nothing(bool announceLength)
    {
        var api = platform.Client();
        var repositoryId = await api.CreateRepositoryAsync();
        var name = $"too-big-{Guid.NewGuid():N}";
        var json = $"{{\"name\":\"{name}\",\"repositoryId\":{repositoryId},\"description\":\"{new string('x', (1 << 20) + 16)}\"}}";
        HttpContent content = announceLength
            ? new StringContent(json, System.Text.Encoding.UTF8, "application/json")
            : new StreamContent(new UnknownLengthStream(System.Text.Encoding.UTF8.GetBytes(json)));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");

        var response = await api.Http.PostAsync("/datasets", content);
        var detail = await ApiClient.ExpectProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Contains("larger than", detail);
        var datasets = await api.GetJsonAsync($"/datasets?repositoryId={repositoryId}");
        Assert.DoesNotContain(datasets.EnumerateArray(), d => d.GetProperty("name").GetString() == name);
    }

    /// <summary>A body sent chunked, so the server cannot refuse it by its Content-Length and must count what arrives.</summary>
    private sealed class UnknownLengthStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }
}
