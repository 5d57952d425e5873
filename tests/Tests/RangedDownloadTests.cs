using System.Globalization;
using System.Net;
using System.Text;
using DatasetPlatform.Grains.Storage;
using DatasetPlatform.Tests.Infrastructure;

namespace DatasetPlatform.Tests;

/// <summary>
/// Downloads read in ranges of the table by several PostgreSQL sessions at once (DP_DOWNLOAD_STREAMS,
/// DP_DOWNLOAD_RANGE_PAGES; here ranges of a few pages, so small tables have many): the same bytes in the same order as
/// one statement, the sessions really run side by side, and every range reads the one snapshot the download started with,
/// even when an import commits half-way.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class RangedDownloadTests(PlatformFixture platform)
{
    private const string Manifest =
        """[{"sourceName":"Date","dataType":"Date","isEntity":true,"dateFormat":"%Y-%m-%d"},{"sourceName":"Country","dataType":"String","isEntity":true},{"sourceName":"Label","dataType":"String"}]""";

    [Fact]
    public async Task Ranges_read_side_by_side_return_the_bytes_and_order_of_one_statement_in_every_format()
    {
        var connectionString = await platform.CreateDatabaseAsync();
        await using var service = await ServiceUnderTest.StartAsync("ranged",
            new Dictionary<string, string> { ["DP_DOWNLOAD_STREAMS"] = "3", ["DP_DOWNLOAD_RANGE_PAGES"] = "1" }, connectionString);
        var api = service.Client(timeout: TimeSpan.FromMinutes(2));
        var id = await api.NewDatasetAsync();
        var csv = new StringBuilder("Date,Country,Label,Value\n");
        for (var i = 0; i < 3000; i++)
            csv.Append(CultureInfo.InvariantCulture, $"2020-01-{1 + i % 28:D2},C{i:D5},\"Zürich, \"\"{i}\"\" 🙂\",{i}.25\n");
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(id, csv.ToString(), Manifest)).GetProperty("status").GetString());
        // Every 7th row changed: their new versions go to the table's end, so table order is not the file's order.
        var changed = new StringBuilder("Date,Country,Label,Value\n");
        for (var i = 0; i < 3000; i += 7) changed.Append(CultureInfo.InvariantCulture, $"2020-01-{1 + i % 28:D2},C{i:D5},changed,{i}.5\n");
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(id, changed.ToString(), Manifest, "?onConflictUpdateDB=true")).GetProperty("status").GetString());

        // A download cuts the table by its size at its last ANALYZE, which imports this small leave to autovacuum: done here.
        await using var connection = await BackendProbe.OpenAsync(connectionString);
        await BackendProbe.ScalarAsync<object>(connection, $"ANALYZE {DataTables.QualifiedName(id)}");

        // The sessions run at the same time: with the table held, each waits in its own first range.
        await using (var holder = await BackendProbe.OpenAsync(connectionString))
        await using (var transaction = await BackendProbe.LockTableAsync(holder, id))
        {
            var download = api.Http.GetAsync($"/datasets/{id}/data");
            await Poll.UntilAsync(async () => await BackendProbe.ScalarAsync<long>(connection,
                    "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND wait_event_type = 'Lock' AND query LIKE 'COPY (SELECT%' AND query LIKE '%ctid >=%' AND query LIKE '%' || @table || ' %'",
                    ("table", DataTables.QualifiedName(id))) == 3,
                TimeSpan.FromSeconds(60), "Three range statements never waited side by side.");
            await transaction.RollbackAsync();
            var ranged = await (await download).Content.ReadAsStringAsync();
            // $top makes the download one statement (a LIMIT over one scan): the reference order.
            Assert.Equal(await api.DownloadAsync(id, "?$top=1000000"), ranged);
            Assert.Equal(3001, ranged.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
            Assert.Contains("C00007,2020-01-08,changed,7.5\n", ranged);
        }

        foreach (var query in new[] { "?$format=tsv", "?$format=json", "?$filter=Value gt 1000", "?$select=Value&$format=json", "?$filter=Country eq 'nobody'" })
            Assert.Equal(await api.DownloadAsync(id, query + "&$top=1000000"), await api.DownloadAsync(id, query));

        // A dataset with no rows yet still answers 200, with an empty body.
        var empty = await api.NewDatasetAsync();
        Assert.Equal("", await api.DownloadAsync(empty));
    }

    [Fact]
    public async Task A_download_in_ranges_sees_one_state_while_an_import_commits_half_way()
    {
        var connectionString = await platform.CreateDatabaseAsync();
        await using var service = await ServiceUnderTest.StartAsync("ranged-snapshot",
            new Dictionary<string, string> { ["DP_DOWNLOAD_STREAMS"] = "2", ["DP_DOWNLOAD_RANGE_PAGES"] = "4" }, connectionString);
        var api = service.Client(timeout: TimeSpan.FromMinutes(2));
        const int rows = 40_000; // about 42 MB of CSV: far more than the read-ahead and socket buffers hold
        var id = await BackendProbe.DatasetWithLongRowsAsync(api, connectionString, rows);
        await using var connection = await BackendProbe.OpenAsync(connectionString);
        // The rows were added behind the service's back: the catalog learns the table's size (its ranges) as an import would.
        await BackendProbe.ScalarAsync<object>(connection, $"ANALYZE {DataTables.QualifiedName(id)}");

        using var response = await api.Http.GetAsync($"/datasets/{id}/data", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var body = await response.Content.ReadAsStreamAsync();
        var first = new byte[4096];
        await body.ReadExactlyAsync(first);

        // While the download is held by its client, an import closes every row but one, changes that one and adds one.
        var process = await api.UploadAndWaitAsync(id, "Date,Country,Note\n2020-01-01,AR,changed\n2030-01-01,NEW,new\n", null,
            "?deleteMissingFromDB=true&onConflictUpdateDB=true");
        Assert.Equal("Processed", process.GetProperty("status").GetString());
        Assert.True(await BackendProbe.ScalarAsync<bool>(connection,
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE query LIKE 'COPY (SELECT%ctid >=%' AND query LIKE '%' || @table || ' %' AND state IN ('active', 'idle in transaction'))",
                ("table", DataTables.QualifiedName(id))),
            "The download had ended before the import committed: this test needs more rows.");

        using var rest = new MemoryStream();
        rest.Write(first);
        await body.CopyToAsync(rest);
        var lines = Encoding.UTF8.GetString(rest.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // All old: the header, the first upload's row and every added row; nothing of the import.
        Assert.Equal(rows + 2, lines.Length);
        Assert.Contains("AR,2020-01-01,x", lines);
        Assert.DoesNotContain(lines, l => l.StartsWith("NEW,", StringComparison.Ordinal) || l.EndsWith(",changed", StringComparison.Ordinal));

        // A download after the import sees all new.
        Assert.Equal(["AR,2020-01-01,changed", "Country,Date,Note", "NEW,2030-01-01,new"],
            (await api.DownloadAsync(id)).Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
    }
}
