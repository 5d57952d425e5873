using System.Net;
using DatasetPlatform.Tests.Infrastructure;

namespace DatasetPlatform.Tests;

/// <summary>
/// The read statement timeout (DP_READ_STATEMENT_TIMEOUT_SECONDS, here 1 s) on the real service over real HTTP: before
/// the first byte it is a 503 that names the limit; after it, the transfer fails instead of ending as a short 200.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class ReadTimeoutTests(PlatformFixture platform)
{
    [Fact]
    public async Task Reads_past_the_statement_timeout_fail_visibly()
    {
        var connectionString = await platform.CreateDatabaseAsync();
        await using var service = await ServiceUnderTest.StartAsync("timeout",
            new Dictionary<string, string> { ["DP_READ_STATEMENT_TIMEOUT_SECONDS"] = "1" }, connectionString);
        var api = service.Client(timeout: TimeSpan.FromMinutes(2));
        const int rows = 80_000; // about 85 MB of CSV
        var id = await BackendProbe.DatasetWithLongRowsAsync(api, connectionString, rows);

        // Before the first byte: the table is held, the COPY waits past its timeout.
        await using (var holder = await BackendProbe.OpenAsync(connectionString))
        await using (var transaction = await BackendProbe.LockTableAsync(holder, id))
        {
            var problem = await ApiClient.ExpectProblemAsync(await api.Http.GetAsync($"/datasets/{id}/data?$format=json"), HttpStatusCode.ServiceUnavailable);
            Assert.Contains("DP_READ_STATEMENT_TIMEOUT_SECONDS", problem);
            Assert.Contains("1 s", problem);

            // Statistics run their own statements under the same limit, and say so the same way.
            Assert.Contains("DP_READ_STATEMENT_TIMEOUT_SECONDS",
                await ApiClient.ExpectProblemAsync(await api.Http.GetAsync($"/datasets/{id}/date-stats"), HttpStatusCode.ServiceUnavailable));
            await transaction.RollbackAsync();
        }

        // After the first byte: a client that stops reading holds the COPY past its timeout; when it reads on, the
        // statement fails and the transfer must fail with it.
        using var response = await api.Http.GetAsync($"/datasets/{id}/data", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var body = await response.Content.ReadAsStreamAsync();
        var first = new byte[4096];
        await body.ReadExactlyAsync(first);
        // This is the client stalling, not a wait for background work: the statement began before the first byte, so after
        // two seconds its one-second timeout has passed whatever the load, and it fails as soon as it may run again.
        await Task.Delay(TimeSpan.FromSeconds(2));
        long received = first.Length;
        var error = await Record.ExceptionAsync(async () =>
        {
            var buffer = new byte[1 << 16];
            int read;
            while ((read = await body.ReadAsync(buffer)) > 0) received += read;
        });
        Assert.True(error is IOException or HttpRequestException, $"The transfer ended without an error after {received} bytes ({error})");
        Assert.True(received < rows * 1000L, $"{received} bytes arrived, which is the whole dataset");
        // ...and the service logged it as an error.
        await Poll.UntilAsync(() => Task.FromResult(service.Output.Contains("failed after its first byte", StringComparison.Ordinal)), TimeSpan.FromSeconds(30),
            () => "The aborted download was not logged:\n" + service.Output);

        // The service keeps answering (a catalog read: any read of these 85 MB may itself run past one second on a busy machine).
        Assert.Equal(3, (await api.GetJsonAsync($"/datasets/{id}/columns")).GetProperty("columnDefinitions").GetArrayLength());
    }
}
