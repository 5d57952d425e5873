using System.Net;
using System.Text.Json;
using DatasetPlatform.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DatasetPlatform.Tests;

/// <summary>The service binary for README's walk-throughs, laid out as run.sh lays it out (its key in `.data/bootstrap-key.txt`).</summary>
public sealed class ReadmeService() : ServiceFixture("readme");

/// <summary>
/// README.md's walk-throughs run as written, with bash, curl, jq and the built `dp`, against the service on a real port:
/// every call's status, what the reader is told to expect, and the rows read back afterwards through the API.
/// </summary>
public sealed class ReadmeWalkthroughTests(ReadmeService service, ITestOutputHelper output) : IClassFixture<ReadmeService>
{
    [Fact]
    public async Task The_curl_walk_throughs_of_the_four_surfaces_run_as_written()
    {
        var run = await ReadmeScript.RunAsync(service.Service.WorkDirectory, service.Url,
            [ReadmeScript.Block("## Walk-through (seed 001)"), ReadmeScript.Block("## The other surfaces in one breath"),
             // Not README: hands the ids the reader's shell holds to the checks below.
             """printf '{"repo":%s,"ds":%s,"tasks":%s,"tx":"%s"}' "$REPO" "$DS" "$TASKS" "$TX" > ids.json"""]);
        output.WriteLine(run.ToString());
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.All(run.Steps, step => Assert.True(step.Status is >= 200 and < 300, $"{step}\n\n{run}"));
        using var ids = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(service.Service.WorkDirectory, "ids.json")));
        var (repo, ds, tasks, tx) = (ids.RootElement.GetProperty("repo").GetInt64(), ids.RootElement.GetProperty("ds").GetInt64(),
            ids.RootElement.GetProperty("tasks").GetInt64(), ids.RootElement.GetProperty("tx").GetString()!);

        // Seed 001: created, uploaded (201, Requested), processed, read back four ways.
        Assert.Equal(201, run.Last("POST", "^/repositories$").Status);
        Assert.Equal(201, run.Last("POST", "^/datasets$").Status);
        var upload = run.Last("PUT", $"^/datasets/{ds}/data\\?");
        Assert.Equal(201, upload.Status);
        Assert.Equal("Requested", Json(upload).GetProperty("status").GetString());
        var process = Json(run.Last("GET", $"^/datasets/{ds}/processes/\\d+$"));
        Assert.Equal("Processed", process.GetProperty("status").GetString());
        Assert.Equal("3 values added to database.", process.GetProperty("statusDescription").GetString());
        var csv = Lines(run.Last("GET", $"^/datasets/{ds}/data$").Body);
        Assert.Equal(4, csv.Length);
        Assert.Contains(csv, l => l.Contains("2020-01-01") && l.Contains("ARG") && l.Contains("50"));
        var filtered = JsonLines(run.Last("GET", $@"^/datasets/{ds}/data\?\$format=json&\$filter=Country eq 'USA' and Date ge 2021-01-01$").Body);
        Assert.Equal(103m, Assert.Single(filtered).GetProperty("GDP").GetDecimal());
        var top = run.Last("GET", $@"^/datasets/{ds}/data\?\$top=2&\$select=GDP$").Body;
        // Two rows; the key columns come with the selected one, and Row-Count says how many the (absent) filter matches.
        Assert.Matches("(?im)^Row-Count: 3\\s*$", top);
        var topRows = Lines(top[(top.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..]);
        Assert.Equal(["Country", "Date", "GDP"], topRows[0].Split(',').Order());
        Assert.Equal(3, topRows.Length);
        Assert.Equal(4, Lines(run.Last("GET", $"^/datasets/{ds}/data\\?version=0$").Body).Length);
        Assert.Equal(3, Json(run.Last("GET", $"^/datasets/{ds}/date-stats$")).GetProperty("rows").GetInt64());

        // V4: schema set, URL asked, file PUT without credentials, import complete with both records.
        Assert.Equal(201, run.Last("GET", $"^/datasets/{tasks}/upload-url/tasks.jsonl$").Status);
        var import = Json(run.Last("GET", $"^/datasets/{tasks}/imports/\\d+$"));
        Assert.Equal("complete", import.GetProperty("status").GetString());
        Assert.Equal(2, import.GetProperty("accepted_count").GetInt64());

        // Data8: a token, the input dataset, a block of two records (one an object, one an array), read back in order.
        Assert.False(string.IsNullOrEmpty(Json(run.Last("POST", "^/connect/token$")).GetProperty("access_token").GetString()));
        var records = run.Last("GET", "^/Dataset/people/data$").Body;
        Assert.True(records.IndexOf("Ann", StringComparison.Ordinal) is >= 0 and var ann && records.IndexOf("Bob", StringComparison.Ordinal) > ann, records);

        // Seed 004: two versions, analyzed and compared; version 0 downloaded as an XLSX file (a zip).
        Assert.Equal(201, run.Last("POST", "^/api/datasets/upload$").Status);
        Assert.Equal(201, run.Last("POST", $"^/api/datasets/{tx}/versions$").Status);
        Assert.Equal(3, Json(run.Last("GET", $"^/api/datasets/{tx}/analyze$")).GetProperty("statistics").GetProperty("columns").EnumerateObject().Count());
        Assert.Equal(200, run.Last("GET", $"^/api/datasets/{tx}/compare\\?v1=0&v2=1$").Status);
        var xlsx = await File.ReadAllBytesAsync(Path.Combine(service.Service.WorkDirectory, "v0.xlsx"));
        Assert.True(xlsx.Length > 4 && xlsx[0] == 'P' && xlsx[1] == 'K', "v0.xlsx is not an XLSX (zip) file");

        // The rows, read back through the API as another client would.
        var api = service.Service.Client();
        Assert.Equal(3, JsonLines(await api.DownloadAsync(ds, "?$format=json")).Count);
        Assert.Equal(2, JsonLines(await api.DownloadAsync(tasks, "?$format=json")).Count);
        Assert.Equal(repo, (await api.GetJsonAsync($"/datasets/{tasks}")).GetProperty("repositoryId").GetInt64());
        using var bearer = service.Service.Http(service.AdminKey);
        var versions = await ApiClient.ExpectJsonAsync(await bearer.GetAsync($"/api/datasets/{tx}/versions"), HttpStatusCode.OK);
        Assert.Equal(2, versions.GetProperty("total").GetInt64());
        var latest = await bearer.GetStringAsync($"/api/datasets/{tx}/download");
        Assert.Equal(5, Lines(latest).Length); // header and the 4 rows of transactions_v2.csv
    }

    [Fact]
    public async Task The_CLI_walk_through_runs_as_written()
    {
        var configHome = Directory.CreateTempSubdirectory("dp-readme-config-").FullName;
        var run = await ReadmeScript.RunAsync(service.Service.WorkDirectory, service.Url,
            [ReadmeScript.Block("## Command-line client (`dp`)", index: 1),
             """printf '{"repo":%s,"gdp":%s,"staff":%s,"job":%s}' "$REPO" "$GDP" "$STAFF" "$JOB" > cli-ids.json"""],
            // `dp` is the built client, as `dotnet tool install` puts it on the PATH; its login goes to a config of its own.
            prelude: $"dp() {{ dotnet '{CliRunner.Dll}' \"$@\"; }}",
            environment: new Dictionary<string, string?> { ["XDG_CONFIG_HOME"] = configHome, ["DP_URL"] = null, ["DP_API_KEY"] = null });
        Directory.Delete(configHome, recursive: true);
        output.WriteLine(run.ToString());
        Assert.True(run.ExitCode == 0, run.ToString());
        using var ids = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(service.Service.WorkDirectory, "cli-ids.json")));
        var (repo, gdp, staff, job) = (ids.RootElement.GetProperty("repo").GetInt64(), ids.RootElement.GetProperty("gdp").GetInt64(),
            ids.RootElement.GetProperty("staff").GetInt64(), ids.RootElement.GetProperty("job").GetInt64());

        // What README says each command prints.
        Assert.Matches(@"Import \d+: Processed\. 3 values added to database\.", run.Stdout);
        Assert.Contains($"Import {job}: Processed.", run.Stdout);
        // The filter keeps USA from 2021 on: the 2021 row of gdp.csv and the 2022 row of gdp2.csv.
        var usa = Lines(await File.ReadAllTextAsync(Path.Combine(service.Service.WorkDirectory, "usa.csv")));
        Assert.Equal(["Country", "Date", "GDP"], usa[0].Split(',').Order());
        Assert.Equal(["2021-01-01|103", "2022-01-01|107"], usa.Skip(1).Select(line => Cells(usa[0], line)).Select(c => $"{c["Date"]}|{c["GDP"]}").Order());
        Assert.DoesNotContain('\u001b', run.Stdout + run.Stderr); // redirected: no bars, no colours

        // Read back: GDP holds both files (Alphacast then presigned), staff the two records sent as a block, all in Reports.
        var api = service.Service.Client();
        Assert.Equal(5, JsonLines(await api.DownloadAsync(gdp, "?$format=json")).Count);
        Assert.Equal(["Ann", "Bob"], JsonLines(await api.DownloadAsync(staff, "?$format=json")).Select(r => r.GetProperty("Name").GetString()));
        Assert.Equal("Reports", (await api.GetJsonAsync($"/repositories/{repo}")).GetProperty("name").GetString());
        Assert.Equal(repo, (await api.GetJsonAsync($"/datasets/{staff}")).GetProperty("repositoryId").GetInt64());
    }

    private static JsonElement Json(ReadmeStep step)
    {
        try
        {
            using var document = JsonDocument.Parse(step.Body);
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new Xunit.Sdk.XunitException($"{step} is not JSON: {e.Message}");
        }
    }

    /// <summary>The Alphacast `$format=json` download: one JSON object a line.</summary>
    private static List<JsonElement> JsonLines(string text) => [.. Lines(text).Select(line => JsonDocument.Parse(line).RootElement.Clone())];

    private static Dictionary<string, string> Cells(string header, string line) =>
        header.Split(',').Zip(line.Split(',')).ToDictionary(p => p.First, p => p.Second);

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
