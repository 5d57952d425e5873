using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using DatasetPlatform.Tests.Infrastructure;

namespace DatasetPlatform.Tests;

/// <summary>Seed 001, end to end over HTTP: repository, dataset, upload, process, download in every format.</summary>
[Collection(nameof(PlatformCollection))]
public sealed class AlphacastFlowTests(PlatformFixture platform)
{
    private const string Gdp = """
        Date,Country,GDP,Inflation
        2020-01-01,USA,100.5,2.1
        2020-01-01,ARG,50,40.2
        2021-01-01,USA,103,1.5
        2021-01-01,ARG,48.25,50
        2022-01-01,USA,107.75,8
        2022-01-01,ARG,47,95.5
        """;

    [Fact]
    public async Task Upload_then_download_returns_the_rows_in_every_format()
    {
        var api = platform.Client();
        var repositoryId = await api.CreateRepositoryAsync();
        var created = await ApiClient.ExpectJsonAsync(
            await api.Http.PostAsync("/datasets", ApiClient.Form(("name", "GDP"), ("repositoryId", repositoryId.ToString()), ("description", "gdp"),
                ("sourceName", "IMF"), ("sourceUrl", "https://imf.org"))), HttpStatusCode.Created);
        var datasetId = created.GetProperty("id").GetInt64();
        Assert.Equal(repositoryId, created.GetProperty("repositoryId").GetInt64());
        Assert.Equal("IMF", created.GetProperty("sourceName").GetString());
        Assert.Equal("Admin", created.GetProperty("permission").GetString());

        var process = await api.UploadAndWaitAsync(datasetId, Gdp, ApiClient.DateCountryManifest, "?deleteMissingFromDB=False&onConflictUpdateDB=False", gzip: true);
        Assert.Equal("Processed", process.GetProperty("status").GetString());
        Assert.Equal("12 values added to database.", process.GetProperty("statusDescription").GetString());
        var stats = process.GetProperty("stats");
        Assert.Equal(12, stats.GetProperty("insertedValues").GetInt64());
        Assert.Equal("2020-01-01", stats.GetProperty("minDate").GetString());
        Assert.Equal("2022-01-01", stats.GetProperty("maxDate").GetString());

        // The SDK's own request shape: "?&$format=csv".
        var csv = await api.DownloadAsync(datasetId, "?&$format=csv");
        Assert.Equal(
            "Country,Date,GDP,Inflation\nUSA,2020-01-01,100.5,2.1\nARG,2020-01-01,50,40.2\nUSA,2021-01-01,103,1.5\nARG,2021-01-01,48.25,50\nUSA,2022-01-01,107.75,8\nARG,2022-01-01,47,95.5\n",
            csv);

        var tsv = await api.DownloadAsync(datasetId, "?$format=tsv");
        Assert.StartsWith("Country\tDate\tGDP\tInflation\nUSA\t2020-01-01\t100.5\t2.1\n", tsv);

        var lines = (await api.DownloadAsync(datasetId, "?$format=json")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(6, lines.Length);
        var first = JsonDocument.Parse(lines[0]).RootElement;
        Assert.Equal("USA", first.GetProperty("Country").GetString());
        Assert.Equal("2020-01-01", first.GetProperty("Date").GetString());
        Assert.Equal(100.5, first.GetProperty("GDP").GetDouble());

        var dataset = await api.GetJsonAsync($"/datasets/{datasetId}");
        Assert.Equal(12, dataset.GetProperty("total_datapoint_count").GetInt64());

        var dateStats = await api.GetJsonAsync($"/datasets/{datasetId}/date-stats");
        Assert.Equal("2020-01-01", dateStats.GetProperty("minDate").GetString());
        Assert.Equal("2022-01-01", dateStats.GetProperty("maxDate").GetString());
        Assert.Equal(6, dateStats.GetProperty("rows").GetInt64());
        Assert.Equal(2, dateStats.GetProperty("entities").GetInt64());

        var columns = (await api.GetJsonAsync($"/datasets/{datasetId}/columns")).GetProperty("columnDefinitions").EnumerateArray().ToList();
        Assert.Equal(["Date", "Country", "GDP", "Inflation"], columns.Select(c => c.GetProperty("sourceName").GetString()));
        Assert.Equal(["Date", "String", "Decimal", "Decimal"], columns.Select(c => c.GetProperty("dataType").GetString()));

        var processes = await api.GetJsonAsync($"/datasets/{datasetId}/processes");
        Assert.Equal(process.GetProperty("id").GetInt64(), processes.EnumerateArray().Single().GetProperty("id").GetInt64());
    }

    [Fact]
    public async Task Filters_select_top_skip_and_last_shape_the_download()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        await api.UploadAndWaitAsync(datasetId, Gdp, ApiClient.DateCountryManifest);

        // Exactly what the SDK builds for filterEntities + startDate.
        var filtered = await api.DownloadAsync(datasetId,
            "?%24filter=%28%27Country%27+eq+%27USA%27+or+%27Country%27+eq+%27ARG%27%29+and+%27Date%27+ge+2021-01-01&%24select=GDP&$format=csv");
        Assert.Equal("Country,Date,GDP\nUSA,2021-01-01,103\nARG,2021-01-01,48.25\nUSA,2022-01-01,107.75\nARG,2022-01-01,47\n", filtered);

        Assert.Equal("Country,Date,GDP,Inflation\nARG,2022-01-01,47,95.5\n",
            await api.DownloadAsync(datasetId, "?$filter=Country eq 'ARG' and Inflation gt 60"));
        Assert.Equal("Country,Date,GDP,Inflation\nUSA,2020-01-01,100.5,2.1\nUSA,2022-01-01,107.75,8\n",
            await api.DownloadAsync(datasetId, "?$filter=Country eq 'USA' and not (Date eq 2021-01-01)"));

        var top = await api.Http.GetAsync($"/datasets/{datasetId}/data?$top=2&$skip=1");
        Assert.Equal("6", top.Headers.GetValues("Row-Count").Single());
        Assert.Equal("Country,Date,GDP,Inflation\nARG,2020-01-01,50,40.2\nUSA,2021-01-01,103,1.5\n", await top.Content.ReadAsStringAsync());

        var last = await api.DownloadAsync(datasetId, "?$last=2");
        Assert.Equal(3, last.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.All(last.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1), line => Assert.Contains("2022-01-01", line));
    }

    [Theory]
    [InlineData("?$filter=Contry eq 'USA'", "Unknown column 'Contry'")]
    [InlineData("?$filter=Country eq 'USA", "Unterminated string literal")]
    [InlineData("?$filter=Date ge 'yesterday'", "not a valid date")]
    [InlineData("?$select=Nope", "Unknown column 'Nope' in $select")]
    [InlineData("?$top=-1", "$top must be a whole number")]
    [InlineData("?$format=xml", "Unknown $format")]
    public async Task A_bad_query_is_a_400_that_says_what_is_wrong(string query, string expected)
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        await api.UploadAndWaitAsync(datasetId, Gdp, ApiClient.DateCountryManifest);
        var detail = await ApiClient.ExpectProblemAsync(await api.Http.GetAsync($"/datasets/{datasetId}/data{query}"), HttpStatusCode.BadRequest);
        Assert.Contains(expected, detail);
    }

    [Fact]
    public async Task A_filter_value_is_data_not_sql()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        await api.UploadAndWaitAsync(datasetId, Gdp, ApiClient.DateCountryManifest);
        var body = await api.DownloadAsync(datasetId, "?$filter=" + Uri.EscapeDataString("Country eq 'x'') or 1=1; DROP TABLE dp.datasets; --'"));
        Assert.Equal("Country,Date,GDP,Inflation\n", body);
        Assert.Equal(6, (await api.DownloadAsync(datasetId)).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length - 1);
    }

    [Fact]
    public async Task Manifest_and_column_initializer_round_trip()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        var init = await api.Http.PutAsJsonAsync($"/datasets/{datasetId}/columns/initializer",
            new { dateColumnName = "Fecha", entitiesColumnNames = new[] { "País" }, dateFormat = "%d/%m/%Y" });
        await ApiClient.ExpectJsonAsync(init, HttpStatusCode.OK);
        var manifest = await api.GetJsonAsync($"/datasets/{datasetId}/manifest");
        Assert.Equal("Fecha", manifest.GetProperty("manifest")[0].GetProperty("sourceName").GetString());

        // Column names match case- and accent-insensitively; the date format from the initializer applies.
        var process = await api.UploadAndWaitAsync(datasetId, "fecha,PAIS,valor\n31/12/2020,Perú,1.5\n1/1/2021,Perú,2\n");
        Assert.Equal("Processed", process.GetProperty("status").GetString());
        Assert.Equal("País,Fecha,valor\nPerú,2020-12-31,1.5\nPerú,2021-01-01,2\n", await api.DownloadAsync(datasetId));

        var malformed = await api.Http.PutAsync($"/datasets/{datasetId}/manifest", new StringContent("[{\"dataType\":\"Date\"}]", System.Text.Encoding.UTF8, "application/json"));
        Assert.Contains("sourceName", await ApiClient.ExpectProblemAsync(malformed, HttpStatusCode.BadRequest));
    }

    [Fact]
    public async Task Duplicate_dataset_name_in_a_repository_is_a_409()
    {
        var api = platform.Client();
        var repositoryId = await api.CreateRepositoryAsync();
        await api.CreateDatasetAsync(repositoryId, "same");
        var again = await api.Http.PostAsync("/datasets", ApiClient.Form(("name", "same"), ("repositoryId", repositoryId.ToString())));
        Assert.Contains("already exists", await ApiClient.ExpectProblemAsync(again, HttpStatusCode.Conflict));
    }

    [Fact]
    public async Task Deleting_a_dataset_removes_it()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        await api.UploadAndWaitAsync(datasetId, Gdp, ApiClient.DateCountryManifest);
        Assert.Equal(HttpStatusCode.OK, (await api.Http.DeleteAsync($"/datasets/{datasetId}")).StatusCode);
        await ApiClient.ExpectProblemAsync(await api.Http.GetAsync($"/datasets/{datasetId}"), HttpStatusCode.NotFound);
        await ApiClient.ExpectProblemAsync(await api.Http.GetAsync($"/datasets/{datasetId}/data"), HttpStatusCode.NotFound);
    }
}
