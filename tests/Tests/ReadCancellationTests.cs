using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using DatasetPlatform.Grains.Query;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Tests.Infrastructure;
using Npgsql;

namespace DatasetPlatform.Tests;

/// <summary>
/// Reads never end as a 200 that merely stops: a failure after the first byte aborts the transfer. A client that goes
/// away cancels its query in PostgreSQL. Name lookups in $select and $filter stay linear however many names a request has.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class ReadCancellationTests(PlatformFixture platform)
{
    private Task<NpgsqlConnection> DatabaseAsync() => BackendProbe.OpenAsync(platform.ConnectionString);

    private Task<long> DatasetWithLongRowsAsync(int rows) => BackendProbe.DatasetWithLongRowsAsync(platform.Client(), platform.ConnectionString, rows);

    [Fact]
    public async Task A_download_that_fails_after_its_first_byte_is_aborted_not_cut_short()
    {
        const int rows = 80_000; // about 85 MB of CSV
        var id = await DatasetWithLongRowsAsync(rows);
        await using var connection = await DatabaseAsync();
        foreach (var format in new[] { "csv", "json" })
        {
            var http = platform.Client().Http;
            using var response = await http.GetAsync($"/datasets/{id}/data?$format={format}", HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await using var body = await response.Content.ReadAsStreamAsync();
            var first = new byte[4096];
            await body.ReadExactlyAsync(first);

            // The COPY is under way and already sending: cancel it in PostgreSQL, as a statement timeout would.
            var pid = await BackendProbe.WaitForAsync(connection, id, "COPY (SELECT");
            Assert.True(await BackendProbe.ScalarAsync<bool>(connection, "SELECT pg_cancel_backend(@pid)", ("pid", pid)));

            var received = (long)first.Length;
            var error = await Record.ExceptionAsync(async () =>
            {
                var buffer = new byte[1 << 16];
                int read;
                while ((read = await body.ReadAsync(buffer)) > 0) received += read;
            });
            Assert.True(error is IOException or HttpRequestException, $"{format}: the transfer ended without an error after {received} bytes ({error})");
            Assert.True(received < rows * 1000L, $"{format}: {received} bytes arrived, which is the whole dataset");
        }

        // The service keeps serving, and the same download now completes.
        var csv = await platform.Client().DownloadAsync(id, "?$top=5");
        Assert.Equal(6, csv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task A_download_that_fails_before_its_first_byte_is_a_problem()
    {
        var id = await DatasetWithLongRowsAsync(10);
        await using var connection = await DatabaseAsync();
        // Hold the table so the COPY waits before sending anything, then cancel it from outside.
        await using var holder = await DatabaseAsync();
        await using var transaction = await BackendProbe.LockTableAsync(holder, id);
        var download = platform.Client().Http.GetAsync($"/datasets/{id}/data");
        var pid = await BackendProbe.WaitForAsync(connection, id, "COPY (SELECT", "Lock");
        Assert.True(await BackendProbe.ScalarAsync<bool>(connection, "SELECT pg_cancel_backend(@pid)", ("pid", pid)));
        var detail = await ApiClient.ExpectProblemAsync(await download, HttpStatusCode.ServiceUnavailable);
        Assert.Contains("cancelled", detail);
        await transaction.RollbackAsync();
    }

    [Fact]
    public async Task A_client_that_goes_away_cancels_its_download_query()
    {
        var id = await DatasetWithLongRowsAsync(10);
        await using var connection = await DatabaseAsync();
        await using var holder = await DatabaseAsync();
        await using var transaction = await BackendProbe.LockTableAsync(holder, id);

        using var cancel = new CancellationTokenSource();
        var download = platform.Client().Http.GetAsync($"/datasets/{id}/data?$format=json", cancel.Token);
        var pid = await BackendProbe.WaitForAsync(connection, id, "COPY (SELECT", "Lock");
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => download);
        // The table is still locked, so the query can only have left because it was cancelled.
        await BackendProbe.WaitUntilIdleAsync(connection, pid, "COPY (SELECT");
        await transaction.RollbackAsync();
    }

    [Fact]
    public async Task A_client_that_goes_away_cancels_its_analysis_query()
    {
        var http = platform.RawClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", platform.AdminKey);
        var project = await platform.Client().CreateRepositoryAsync();
        var content = new MultipartFormDataContent
        {
            { new StringContent(project.ToString(System.Globalization.CultureInfo.InvariantCulture)), "project_id" },
            { new StringContent("slow-" + Guid.NewGuid().ToString("N")[..8]), "name" },
            { new ByteArrayContent(Encoding.UTF8.GetBytes("a,b\n1,x\n2,y\n")), "file", "data.csv" },
        };
        var uid = (await ApiClient.ExpectJsonAsync(await http.PostAsync("/api/datasets/upload", content), HttpStatusCode.Created)).GetProperty("dataset_id").GetString()!;
        await using var connection = await DatabaseAsync();
        var id = await BackendProbe.ScalarAsync<long>(connection, "SELECT id FROM dp.datasets WHERE uid = @uid", ("uid", Guid.Parse(uid)));
        await using var holder = await DatabaseAsync();
        await using var transaction = await BackendProbe.LockTableAsync(holder, id);

        using var cancel = new CancellationTokenSource();
        var analyze = http.GetAsync($"/api/datasets/{uid}/analyze", cancel.Token);
        var pid = await BackendProbe.WaitForAsync(connection, id, "SELECT", "Lock");
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => analyze);
        await BackendProbe.WaitUntilIdleAsync(connection, pid, "SELECT");
        await transaction.RollbackAsync();

        // Nothing half-computed was kept: the next analysis runs in full.
        var statistics = (await ApiClient.ExpectJsonAsync(await http.GetAsync($"/api/datasets/{uid}/analyze"), HttpStatusCode.OK)).GetProperty("statistics");
        Assert.Equal(2, statistics.GetProperty("row_count").GetInt64());
    }

    [Fact]
    public async Task Thousands_of_names_in_select_resolve_by_hash_and_errors_stay_clear()
    {
        var api = platform.Client();
        var id = await api.NewDatasetAsync();
        var header = string.Join(",", ["Date", "Country", .. Enumerable.Range(0, 300).Select(i => $"Série {i}")]);
        var row = string.Join(",", ["2020-01-01", "AR", .. Enumerable.Range(0, 300).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))]);
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(id, $"{header}\n{row}\n", ApiClient.DateCountryManifest)).GetProperty("status").GetString());

        // 6000 names (each value column 20 times, in other case and without accents): one column each in the answer.
        var names = Enumerable.Range(0, 6000).Select(i => i % 2 == 0 ? $"série {i % 300}" : $"SERIE {i % 300}");
        var csv = await api.DownloadAsync(id, $"?$select={Uri.EscapeDataString(string.Join(",", names))}");
        var lines = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(302, lines[0].Split(',').Length);
        Assert.Equal(row, lines[1].Replace("AR,2020-01-01", "2020-01-01,AR", StringComparison.Ordinal));

        var unknown = await ApiClient.ExpectProblemAsync(await api.Http.GetAsync($"/datasets/{id}/data?$select={Uri.EscapeDataString(string.Join(",", names.Append("Nope")))}"),
            HttpStatusCode.BadRequest);
        Assert.Contains("'Nope'", unknown);
        var badFilter = await ApiClient.ExpectProblemAsync(await api.Http.GetAsync($"/datasets/{id}/data?$filter={Uri.EscapeDataString("'Série 12' eq 'x'")}"),
            HttpStatusCode.BadRequest);
        Assert.Contains("Série 12", badFilter);
        var json = await api.DownloadAsync(id, $"?$format=json&$filter={Uri.EscapeDataString("'série 12' eq 12 and Country eq 'AR'")}");
        Assert.Equal(12, JsonDocument.Parse(json).RootElement.GetProperty("Série 12").GetInt32());
    }

    [Fact]
    public void A_long_run_of_bare_words_is_tried_only_as_long_as_the_longest_column_name()
    {
        // 1500 words that name nothing: each try costs its length, so trying every run would be quadratic.
        var calls = 0;
        var filter = string.Join(" ", Enumerable.Repeat("word", 1500)) + " eq 1";
        var error = Assert.Throws<FilterException>(() => ODataFilter.ToSql(filter, name =>
        {
            calls++;
            return null;
        }, [], (i, _) => $"@p{i}", maxWordsInColumnName: 3));
        Assert.Contains("word", error.Message);
        Assert.True(calls <= 3, $"{calls} lookups for one bare name");
    }
}
