using System.Text;
using System.Text.Json;
using DatasetPlatform.Tests.Infrastructure;

namespace DatasetPlatform.Tests;

/// <summary>
/// The `dp` client run as its own process against the real service (its own process too), as a user or a script runs it:
/// exit codes, what it prints on stdout and stderr, and the rows that come back from the service after its uploads.
/// </summary>
public sealed class CliTests(CliService service) : IClassFixture<CliService>
{
    private const string Manifest = ApiClient.DateCountryManifest;
    /// <summary>The V4 schema names every field it loads (the Alphacast upload adds undeclared columns; a V4 import does not).</summary>
    private const string PresignedManifest =
        """[{"sourceName":"Date","dataType":"Date","isEntity":true,"dateFormat":"%Y-%m-%d"},{"sourceName":"Country","dataType":"String","isEntity":true},{"sourceName":"GDP","dataType":"Decimal"}]""";
    private const string GdpCsv = "Date,Country,GDP\n2020-01-01,USA,100.5\n2020-01-01,ARG,50\n2021-01-01,USA,103\n";

    private readonly CliRunner _dp = service.Cli();

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // file modes are POSIX's
    public async Task Login_saves_the_key_in_a_file_only_its_owner_can_read_and_logout_forgets_it()
    {
        var noEnvironmentLogin = new Dictionary<string, string?> { ["DP_API_KEY"] = null, ["DP_URL"] = null };
        var configFile = Path.Combine(_dp.ConfigHome, "dp", "config.json");

        var refused = await _dp.RunAsync(["login", "--url", service.Url, "--key", "dp_not-a-real-key"], noEnvironmentLogin);
        Assert.True(refused.ExitCode == 3, refused.ToString());
        Assert.Contains("401", refused.Stderr);
        Assert.False(File.Exists(configFile), "A refused key must not be saved.");

        // The key from stdin, so it never shows in a process list or the shell history.
        var login = await _dp.RunAsync(["login", "--url", service.Url, "--key", "-"], noEnvironmentLogin, stdin: service.AdminKey + "\n");
        Assert.True(login.ExitCode == 0, login.ToString());
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(configFile));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(configFile)!));
        using (var saved = JsonDocument.Parse(await File.ReadAllTextAsync(configFile)))
        {
            Assert.Equal(service.AdminKey, saved.RootElement.GetProperty("key").GetString());
            Assert.Equal(service.Url, saved.RootElement.GetProperty("url").GetString());
        }

        // Later commands use the saved login; DP_API_KEY overrides it.
        var list = await _dp.RunAsync(["repos", "list"], noEnvironmentLogin);
        Assert.True(list.ExitCode == 0, list.ToString());
        var overridden = await _dp.RunAsync(["repos", "list"], new Dictionary<string, string?> { ["DP_API_KEY"] = "dp_wrong", ["DP_URL"] = null });
        Assert.True(overridden.ExitCode == 3, overridden.ToString());

        var logout = await _dp.RunAsync(["logout"], noEnvironmentLogin);
        Assert.True(logout.ExitCode == 0, logout.ToString());
        Assert.False(File.Exists(configFile));
        var afterLogout = await _dp.RunAsync(["repos", "list"], noEnvironmentLogin);
        Assert.True(afterLogout.ExitCode == 3, afterLogout.ToString());
        Assert.Contains("Not logged in", afterLogout.Stderr);
    }

    [Fact]
    public async Task Repositories_and_datasets_are_created_listed_searched_shown_and_deleted()
    {
        var unique = "cli" + Guid.NewGuid().ToString("N")[..10];
        var repository = await JsonOf(["repos", "create", "--name", $"Macro {unique}", "--description", "from the CLI", "--json"]);
        var repositoryId = repository.GetProperty("id").GetInt64();
        Assert.Equal("Private", repository.GetProperty("privacy").GetString());

        var dataset = await JsonOf(["datasets", "create", "--repo", repositoryId.ToString(), "--name", $"GDP {unique}", "--description", "GDP by country", "--json"]);
        var datasetId = dataset.GetProperty("id").GetInt64();

        var repositories = await Ok(["repos", "list"]);
        Assert.Contains($"Macro {unique}", repositories.Stdout);
        var datasets = await Ok(["datasets", "list", "--repo", repositoryId.ToString()]);
        Assert.Contains($"GDP {unique}", datasets.Stdout);
        var listed = await JsonOf(["datasets", "list", "--repo", repositoryId.ToString(), "--json"]);
        Assert.Equal(datasetId, Assert.Single(listed.EnumerateArray()).GetProperty("id").GetInt64());

        var found = await JsonOf(["datasets", "list", "--search", unique, "--json"]);
        Assert.Equal($"GDP {unique}", Assert.Single(found.GetProperty("items").EnumerateArray()).GetProperty("name").GetString());
        var searchTable = await Ok(["datasets", "list", "--search", unique]);
        Assert.Contains($"GDP {unique}", searchTable.Stdout);

        var shown = await Ok(["datasets", "show", datasetId.ToString()]);
        Assert.Contains("GDP by country", shown.Stdout);
        Assert.Contains($"Macro {unique}", (await Ok(["repos", "show", repositoryId.ToString()])).Stdout);

        await Ok(["datasets", "delete", datasetId.ToString()]);
        var gone = await _dp.RunAsync("datasets", "show", datasetId.ToString());
        Assert.True(gone.ExitCode == 4, gone.ToString());
        await Ok(["repos", "delete", repositoryId.ToString()]);
        var repositoryGone = await _dp.RunAsync("repos", "show", repositoryId.ToString());
        Assert.True(repositoryGone.ExitCode == 4, repositoryGone.ToString());
    }

    [Fact]
    public async Task An_alphacast_upload_waits_for_its_import_and_the_rows_download_back_equal_to_the_file()
    {
        var datasetId = await NewDatasetAsync();
        var file = await WriteFileAsync("gdp.csv", GdpCsv);

        var upload = await Ok(["upload", datasetId.ToString(), file, "--manifest", Manifest]);
        Assert.Contains("Processed", upload.Stdout);
        Assert.Contains("3 values added", upload.Stdout);

        var downloaded = Path.Combine(Path.GetDirectoryName(file)!, "back.csv");
        await Ok(["download", datasetId.ToString(), "-o", downloaded]);
        AssertSameRows(GdpCsv, await File.ReadAllTextAsync(downloaded));
        Assert.False(File.Exists(downloaded + ".part"));

        // The same rows to stdout, and the import in the dataset's list.
        AssertSameRows(GdpCsv, (await Ok(["download", datasetId.ToString()])).Stdout);
        var imports = await JsonOf(["imports", "list", datasetId.ToString(), "--json"]);
        Assert.Equal("Processed", Assert.Single(imports.EnumerateArray()).GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_presigned_upload_sets_the_schema_puts_the_file_and_polls_the_import()
    {
        var datasetId = await NewDatasetAsync();
        var file = await WriteFileAsync("gdp.csv", GdpCsv);

        var upload = await Ok(["upload", datasetId.ToString(), file, "--presigned", "--manifest", PresignedManifest]);
        Assert.Contains("complete, 3 records accepted", upload.Stdout);

        AssertSameRows(GdpCsv, (await Ok(["download", datasetId.ToString()])).Stdout);
        var imports = await JsonOf(["imports", "list", datasetId.ToString(), "--json"]);
        Assert.Equal("Processed", Assert.Single(imports.EnumerateArray()).GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_block_upload_splits_the_csv_into_blocks_of_1000_records_in_order_and_completes_the_dataset()
    {
        var repositoryId = await NewRepositoryAsync();
        var created = await JsonOf(["datasets", "create", "--repo", repositoryId.ToString(), "--name", "people " + Guid.NewGuid().ToString("N")[..8],
            "--column", "Name:string", "--column", "Age:integer", "--json"]);
        var datasetId = created.GetProperty("id").GetInt64();
        var csv = new StringBuilder("Name,Age\n");
        for (var i = 0; i < 2500; i++) csv.Append($"person {i},{i % 90}\n");
        var file = await WriteFileAsync("people.csv", csv.ToString());

        var upload = await Ok(["upload", datasetId.ToString(), file, "--blocks"]);
        Assert.Contains("Stored 2,500 records in 3 block(s)", upload.Stdout);
        Assert.Contains("completed", upload.Stdout);

        // Records come back in block order, then submission order: exactly the file.
        var back = (await Ok(["download", datasetId.ToString()])).Stdout;
        Assert.Equal(Lines(csv.ToString()), Lines(back));
        var imports = await JsonOf(["imports", "list", datasetId.ToString(), "--json"]);
        Assert.Equal(3, imports.GetArrayLength());
    }

    [Fact]
    public async Task A_bad_file_exits_5_naming_the_row_and_column_and_leaves_the_dataset_as_it_was()
    {
        var datasetId = await NewDatasetAsync();
        await Ok(["upload", datasetId.ToString(), await WriteFileAsync("good.csv", GdpCsv), "--manifest", Manifest]);
        var bad = await WriteFileAsync("bad.csv", "Date,Country,GDP\n2022-01-01,USA,104\n2022-01-01,ARG,not-a-number\n");

        var failed = await _dp.RunAsync("upload", datasetId.ToString(), bad);
        Assert.True(failed.ExitCode == 5, failed.ToString());
        Assert.Contains("Row 2, column 'GDP': 'not-a-number' is not a valid Decimal", failed.Stderr);
        Assert.Contains("the dataset is unchanged", failed.Stderr);
        AssertSameRows(GdpCsv, (await Ok(["download", datasetId.ToString()])).Stdout);
        var imports = await JsonOf(["imports", "list", datasetId.ToString(), "--json"]);
        Assert.Equal(["Processed", "Error"], imports.EnumerateArray().Select(p => p.GetProperty("status").GetString()));

        // Through the V4 door the same file is a partial import (seed 002): the good record loads, the bad one is named; exit 6.
        var partial = await _dp.RunAsync("upload", datasetId.ToString(), bad, "--presigned");
        Assert.True(partial.ExitCode == 6, partial.ToString());
        Assert.Contains("partial, 1 records accepted, 1 rejected", partial.Stdout);
        Assert.Contains("record 1, field GDP: 'not-a-number' is not a valid Decimal", partial.Stderr);
        AssertSameRows(GdpCsv + "2022-01-01,USA,104\n", (await Ok(["download", datasetId.ToString()])).Stdout);

        // A block the API refuses: exit 5 with the record and field it names, and nothing stored.
        var repositoryId = await NewRepositoryAsync();
        var blocks = (await JsonOf(["datasets", "create", "--repo", repositoryId.ToString(), "--name", "ages " + Guid.NewGuid().ToString("N")[..8],
            "--column", "Name:string", "--column", "Age:integer", "--json"])).GetProperty("id").GetInt64();
        var refused = await _dp.RunAsync("upload", blocks.ToString(), await WriteFileAsync("ages.csv", "Name,Age\nAnn,31\nBob,forty\n"), "--blocks");
        Assert.True(refused.ExitCode == 5, refused.ToString());
        Assert.Contains("records[1].Age: 'forty' is not a valid integer.", refused.Stderr);
        Assert.Contains("No block was stored", refused.Stderr);
        Assert.Empty(Lines((await Ok(["download", blocks.ToString()])).Stdout).Skip(1));
    }

    [Fact]
    public async Task Exit_codes_tell_usage_auth_and_not_found_apart_and_errors_show_the_problem_details()
    {
        var usage = await _dp.RunAsync("upload");
        Assert.True(usage.ExitCode == 2, usage.ToString());
        var unknownCommand = await _dp.RunAsync("frobnicate");
        Assert.True(unknownCommand.ExitCode == 2, unknownCommand.ToString());
        var missingFile = await _dp.RunAsync("upload", "1", "/nonexistent/file.csv");
        Assert.True(missingFile.ExitCode == 2, missingFile.ToString());

        var wrongKey = await _dp.RunAsync(["repos", "list"], new Dictionary<string, string?> { ["DP_API_KEY"] = "dp_wrong-key" });
        Assert.True(wrongKey.ExitCode == 3, wrongKey.ToString());
        Assert.Contains("401", wrongKey.Stderr);

        var unknown = await _dp.RunAsync("datasets", "show", "987654321");
        Assert.True(unknown.ExitCode == 4, unknown.ToString());
        // Title, then the API's detail.
        Assert.Contains("404 Not found", unknown.Stderr);
        Assert.Contains("Dataset 987654321 does not exist or is not accessible to this key.", unknown.Stderr);
        var unknownDownload = await _dp.RunAsync("download", "987654321");
        Assert.True(unknownDownload.ExitCode == 4, unknownDownload.ToString());
        Assert.Equal("", unknownDownload.Stdout);
        var unknownUpload = await _dp.RunAsync("upload", "987654321", await WriteFileAsync("x.csv", GdpCsv));
        Assert.True(unknownUpload.ExitCode == 4, unknownUpload.ToString());
    }

    [Fact]
    public async Task Download_applies_a_filter_a_column_selection_and_a_version()
    {
        var datasetId = await NewDatasetAsync();
        await Ok(["upload", datasetId.ToString(), await WriteFileAsync("gdp.csv", GdpCsv), "--manifest", Manifest]);
        // --no-wait answers with the queued import; `imports follow` then watches it to its end.
        var queued = await JsonOf(["upload", datasetId.ToString(), await WriteFileAsync("more.csv", "Date,Country,GDP\n2022-01-01,USA,110\n"), "--no-wait", "--json"]);
        Assert.Equal("Requested", queued.GetProperty("status").GetString());
        var followed = await Ok(["imports", "follow", datasetId.ToString(), queued.GetProperty("id").GetInt64().ToString()]);
        Assert.Contains($"Import {queued.GetProperty("id").GetInt64()}: Processed. 1 values added to database.", followed.Stdout);

        var usa = await Ok(["download", datasetId.ToString(), "--filter", "Country eq 'USA' and Date ge 2021-01-01"]);
        AssertSameRows("Date,Country,GDP\n2021-01-01,USA,103\n2022-01-01,USA,110\n", usa.Stdout);

        var firstVersion = await Ok(["download", datasetId.ToString(), "--version", "0", "--filter", "Country eq 'USA'"]);
        AssertSameRows("Date,Country,GDP\n2020-01-01,USA,100.5\n2021-01-01,USA,103\n", firstVersion.Stdout);

        var json = await Ok(["download", datasetId.ToString(), "--format", "json", "--filter", "Country eq 'ARG'"]);
        using var row = JsonDocument.Parse(Assert.Single(Lines(json.Stdout)));
        Assert.Equal(50, row.RootElement.GetProperty("GDP").GetDouble());

        var badFilter = await _dp.RunAsync("download", datasetId.ToString(), "--filter", "Nope eq 1");
        Assert.True(badFilter.ExitCode == 1, badFilter.ToString());
        Assert.Contains("400", badFilter.Stderr);
    }

    [Fact]
    public async Task Versions_are_listed_compared_and_analyzed()
    {
        var datasetId = await NewDatasetAsync();
        await Ok(["upload", datasetId.ToString(), await WriteFileAsync("gdp.csv", GdpCsv), "--manifest", Manifest]);
        await Ok(["upload", datasetId.ToString(), await WriteFileAsync("gdp2.csv", "Date,Country,GDP\n2020-01-01,USA,200\n2022-01-01,BRA,70\n"), "--update"]);

        var versions = await JsonOf(["versions", "list", datasetId.ToString(), "--json"]);
        Assert.Equal([0, 1], versions.GetProperty("items").EnumerateArray().Select(v => v.GetProperty("version").GetInt32()));
        Assert.Contains("(gdp2.csv)", (await Ok(["versions", "list", datasetId.ToString()])).Stdout);

        var comparison = await JsonOf(["versions", "compare", datasetId.ToString(), "0", "1", "--json"]);
        Assert.Equal(3, comparison.GetProperty("summary").GetProperty("v1_rows").GetInt64());
        Assert.Equal(4, comparison.GetProperty("summary").GetProperty("v2_rows").GetInt64());
        var table = await Ok(["versions", "compare", datasetId.ToString(), "0", "1"]);
        Assert.Contains("rows_diff", table.Stdout);
        Assert.Contains("GDP", table.Stdout);
        Assert.Contains("psi", table.Stdout);

        var analysis = await Ok(["versions", "analyze", datasetId.ToString()]);
        Assert.Contains("GDP", analysis.Stdout);
        Assert.Contains("rows: 4", analysis.Stdout);
        var analysisJson = await JsonOf(["versions", "analyze", datasetId.ToString(), "--json"]);
        Assert.Equal(4, analysisJson.GetProperty("statistics").GetProperty("row_count").GetInt64());
        // An earlier version: its own rows (before the update set USA 2020 to 200), not the current ones.
        var first = (await JsonOf(["versions", "analyze", datasetId.ToString(), "--version", "0", "--json"])).GetProperty("statistics");
        Assert.Equal(3, first.GetProperty("row_count").GetInt64());
        Assert.Equal(103, first.GetProperty("columns").GetProperty("GDP").GetProperty("max").GetDouble());
        Assert.Equal(200, analysisJson.GetProperty("statistics").GetProperty("columns").GetProperty("GDP").GetProperty("max").GetDouble());
        var noSuchVersion = await _dp.RunAsync("versions", "analyze", datasetId.ToString(), "--version", "9");
        Assert.True(noSuchVersion.ExitCode == 4, noSuchVersion.ToString());

        var missing = await _dp.RunAsync("versions", "compare", datasetId.ToString(), "0", "7");
        Assert.True(missing.ExitCode == 4, missing.ToString());
    }

    [Fact]
    public async Task Redirected_output_has_no_progress_bars_or_escape_sequences()
    {
        var datasetId = await NewDatasetAsync();
        var runs = new List<CliResult>
        {
            await Ok(["upload", datasetId.ToString(), await WriteFileAsync("gdp.csv", GdpCsv), "--manifest", Manifest]),
            await Ok(["datasets", "show", datasetId.ToString()]),
            await Ok(["imports", "list", datasetId.ToString()]),
            await Ok(["versions", "analyze", datasetId.ToString()]),
            await _dp.RunAsync("datasets", "show", "987654321"),
        };
        foreach (var run in runs)
        {
            Assert.DoesNotContain('\u001b', run.Stdout);
            Assert.DoesNotContain('\u001b', run.Stderr);
            Assert.DoesNotContain('\r', run.Stderr); // a live bar redraws its line
        }
        // Instead of the bar, one line says what was sent.
        Assert.Contains("Uploading gdp.csv:", runs[0].Stderr);
    }

    [Fact]
    public async Task On_a_terminal_an_upload_draws_its_progress_bar()
    {
        var datasetId = await NewDatasetAsync();
        var file = await WriteFileAsync("gdp.csv", GdpCsv);
        var run = await _dp.RunInTerminalAsync("upload", datasetId.ToString(), file, "--manifest", Manifest);
        Assert.True(run.ExitCode == 0, run.ToString());
        // The live display: escape sequences (cursor, colours) and the bar, left at 100 % once sent; then the outcome.
        Assert.Contains('\u001b', run.Stdout);
        Assert.Matches(@"Uploading gdp\.csv.*━+.*100%", run.Stdout);
        Assert.Contains("Processed. 3 values added to database.", run.Stdout);
        AssertSameRows(GdpCsv, await service.Client().DownloadAsync(datasetId));
    }

    [Fact]
    public async Task An_upload_answered_429_every_time_gives_up_after_five_attempts_and_stores_nothing()
    {
        var datasetId = await NewDatasetAsync();
        var file = await WriteFileAsync("gdp.csv", GdpCsv);
        await using var holder = await HoldTheUploadSlotAsync();

        var result = await _dp.RunAsync("upload", datasetId.ToString(), file, "--manifest", Manifest);
        Assert.True(result.ExitCode == 1, result.ToString());
        // Each retry said on stderr, then the last refusal as the error.
        Assert.Equal(4, result.Stderr.Split('\n').Count(l => l.Contains("Retrying in", StringComparison.Ordinal)));
        Assert.Contains("attempt 5 of 5", result.Stderr);
        Assert.Equal("dp: 429 Too many uploads", Lines(result.Stderr)[^2]);
        Assert.Contains("concurrent uploads", Lines(result.Stderr)[^1]);
        Assert.Empty(result.Stdout);
        Assert.Empty((await service.Client().GetJsonAsync($"/datasets/{datasetId}/processes")).EnumerateArray());
    }

    /// <summary>
    /// Takes the service's one upload slot (<see cref="CliService.MaxConcurrentUploads"/>) with an upload that trickles above the
    /// minimum rate, and returns once another upload is refused (so the slot is surely held); disposing it frees the slot.
    /// </summary>
    private async Task<SlowUpload> HoldTheUploadSlotAsync()
    {
        var target = await NewDatasetAsync();
        const string boundary = "----cli-slot-holder";
        var body = Encoding.UTF8.GetBytes(
            $"--{boundary}\r\nContent-Disposition: form-data; name=\"data\"; filename=\"slow.csv\"\r\nContent-Type: text/csv\r\n\r\nDate,Country\n"
            + new string('x', 512 * 1024));
        var holder = await SlowUpload.StartAsync(service.HttpPort, "PUT", $"/datasets/{target}/data", new Dictionary<string, string>
        {
            ["Content-Type"] = $"multipart/form-data; boundary={boundary}",
            ["Authorization"] = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(service.AdminKey + ":")),
        }, body, 512, 256, TimeSpan.FromMilliseconds(125));
        var api = service.Client();
        var probeDataset = await NewDatasetAsync();
        for (var deadline = DateTime.UtcNow.AddSeconds(30); ; await Task.Delay(100))
        {
            using var probe = await api.UploadAsync(probeDataset, GdpCsv, Manifest);
            if (probe.StatusCode == System.Net.HttpStatusCode.TooManyRequests) return holder;
            Assert.True(DateTime.UtcNow < deadline, $"The slot holder never held the upload slot (a probe upload got {(int)probe.StatusCode}).");
        }
    }

    private async Task<CliResult> Ok(string[] arguments)
    {
        var result = await _dp.RunAsync(arguments);
        Assert.True(result.ExitCode == 0, $"dp {string.Join(' ', arguments)}\n{result}");
        return result;
    }

    private async Task<JsonElement> JsonOf(string[] arguments)
    {
        var result = await Ok(arguments);
        using var document = JsonDocument.Parse(result.Stdout);
        return document.RootElement.Clone();
    }

    private async Task<long> NewRepositoryAsync() =>
        (await JsonOf(["repos", "create", "--name", "repo " + Guid.NewGuid().ToString("N")[..8], "--json"])).GetProperty("id").GetInt64();

    private async Task<long> NewDatasetAsync() =>
        (await JsonOf(["datasets", "create", "--repo", (await NewRepositoryAsync()).ToString(), "--name", "ds " + Guid.NewGuid().ToString("N")[..8], "--json"]))
        .GetProperty("id").GetInt64();

    private static async Task<string> WriteFileAsync(string name, string content)
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("dp-cli-files-").FullName, name);
        await File.WriteAllTextAsync(path, content);
        return path;
    }

    private static List<string> Lines(string text) => [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r'))];

    /// <summary>
    /// The same columns and the same rows, in any order: a keyed dataset reads back in its key order, with its key columns
    /// first, so each row is compared with its values put back in the expected column order.
    /// </summary>
    private static void AssertSameRows(string expected, string actual)
    {
        var want = Lines(expected);
        var got = Lines(actual);
        Assert.NotEmpty(got);
        var header = want[0].Split(',');
        var gotHeader = got[0].Split(',');
        Assert.Equal(header.Order(StringComparer.Ordinal), gotHeader.Order(StringComparer.Ordinal));
        var positions = header.Select(name => Array.IndexOf(gotHeader, name)).ToArray();
        var reordered = got.Skip(1).Select(line => line.Split(',')).Select(fields => string.Join(',', positions.Select(p => fields[p])));
        Assert.Equal(want.Skip(1).Order(StringComparer.Ordinal), reordered.Order(StringComparer.Ordinal));
    }
}
