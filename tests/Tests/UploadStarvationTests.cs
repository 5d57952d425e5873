using System.Diagnostics;
using System.Net;
using System.Text;
using DatasetPlatform.Tests.Infrastructure;
using Xunit.Abstractions;

namespace DatasetPlatform.Tests;

/// <summary>
/// Slow clients cannot take the service down: uploads beyond the concurrent-upload limit get 429 at once, the admitted
/// ones hold no database connection while they wait for bytes, trickling clients are cut off by the minimum data rate,
/// and meanwhile every other route keeps answering. Runs the real binary behind Kestrel with tight limits.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class UploadStarvationTests(TightLimitsService service, ITestOutputHelper output) : IClassFixture<TightLimitsService>
{
    /// <summary>Generous for a CI machine under contention; starved routes took 15 s or failed.</summary>
    private static readonly TimeSpan RouteDeadline = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan SaturationWindow = TimeSpan.FromSeconds(8);
    private const string Boundary = "----slow-upload-boundary";

    [Fact]
    public async Task While_slow_uploads_saturate_the_limit_other_routes_answer_in_time_and_excess_uploads_get_429()
    {
        var api = service.Client(TimeSpan.FromSeconds(30));
        var repositoryId = await api.CreateRepositoryAsync();
        var readable = await api.CreateDatasetAsync(repositoryId);
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(readable, "Date,Country,GDP\n2020-01-01,USA,1.5\n", ApiClient.DateCountryManifest))
            .GetProperty("status").GetString());
        var target = await api.CreateDatasetAsync(repositoryId);
        var routes = new[] { "/repositories", $"/datasets/{readable}", $"/datasets/{readable}/data", "/health/ready" };
        var before = await MeasureRoundAsync(api, routes);

        // Twice the limit of uploads, each trickling 2 KB/s (above the 1 KB/s minimum) into the same dataset.
        var uploads = new List<SlowUpload>();
        for (var i = 0; i < 2 * TightLimitsService.MaxConcurrentUploads; i++)
            uploads.Add(await SlowUpload.StartAsync(service.HttpPort, "PUT", $"/datasets/{target}/data", Headers(), MultipartBody(i), 512, 256,
                TimeSpan.FromMilliseconds(125)));
        try
        {
            var during = new List<(string Route, TimeSpan Took, HttpStatusCode Status)>();
            var window = Stopwatch.StartNew();
            while (window.Elapsed < SaturationWindow) during.AddRange(await MeasureRoundAsync(api, routes));

            output.WriteLine($"before saturation: {Describe(before)}");
            output.WriteLine($"while {uploads.Count} slow uploads trickle ({during.Count} requests): {Describe(during)}");
            foreach (var group in during.GroupBy(d => d.Route))
                output.WriteLine($"  {group.Key}: max {group.Max(d => d.Took).TotalMilliseconds:F0} ms, median {Median(group.Select(d => d.Took)):F0} ms");
            Assert.All(during, d => Assert.True(d.Status == HttpStatusCode.OK && d.Took < RouteDeadline,
                $"{d.Route} answered {(int)d.Status} after {d.Took.TotalMilliseconds:F0} ms while uploads were saturated"));

            // Exactly the uploads beyond the limit were refused at once, with a ProblemDetails 429 and Retry-After.
            var refused = uploads.Where(u => u.Response.IsCompleted).ToList();
            var admitted = uploads.Where(u => !u.Response.IsCompleted).ToList();
            Assert.Equal(TightLimitsService.MaxConcurrentUploads, refused.Count);
            foreach (var upload in refused)
            {
                var response = await upload.Response;
                Assert.Equal(429, response.Status);
                Assert.True(int.Parse(response.Headers["Retry-After"]) > 0);
                Assert.StartsWith("application/problem+json", response.Headers["Content-Type"]);
                Assert.Contains("concurrent uploads", response.Body);
            }

            // Half of the admitted uploads finish at full speed and are acknowledged; the other half go silent and are cut off.
            var finishing = admitted.Take(admitted.Count / 2).ToList();
            var stalled = admitted.Skip(admitted.Count / 2).ToList();
            foreach (var upload in stalled) await upload.StallAsync();
            foreach (var upload in finishing) await upload.FinishAsync();
            var processIds = new List<long>();
            foreach (var upload in finishing)
            {
                var response = await upload.Response.WaitAsync(TimeSpan.FromSeconds(60));
                Assert.True(response.Status == 201, $"A finished upload answered {response.Status}: {response.Body}");
                processIds.Add(System.Text.Json.JsonDocument.Parse(response.Body).RootElement.GetProperty("id").GetInt64());
            }
            var cutOff = Stopwatch.StartNew();
            foreach (var upload in stalled)
            {
                // A stalled client's average rate falls under the minimum within seconds; Kestrel answers 408 or drops it.
                var response = await upload.Response.WaitAsync(TimeSpan.FromSeconds(90));
                Assert.True(response.Status is 0 or 408, $"A stalled upload answered {response.Status}: {response.Body}");
            }
            output.WriteLine($"stalled uploads cut off {cutOff.Elapsed.TotalSeconds:F1} s after they went silent");

            foreach (var processId in processIds)
                Assert.Equal("Processed", (await api.WaitForProcessAsync(target, processId)).GetProperty("status").GetString());
            var csv = await api.DownloadAsync(target);
            var expected = uploads.Select((u, i) => (u, i)).Where(p => finishing.Contains(p.u)).Select(p => p.i).ToHashSet();
            for (var i = 0; i < uploads.Count; i++)
                Assert.Equal(expected.Contains(i), csv.Contains($"\nU{i}R0,", StringComparison.Ordinal));
            Assert.Equal(finishing.Count * RowsPerUpload, csv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length - 1);

            // Nothing half-written remains: no job for a cut-off upload, no staged file that is not a job's.
            Assert.Equal(finishing.Count, await service.ScalarAsync("SELECT count(*) FROM dp.import_jobs WHERE dataset_id = @id", target));
            await PollUntilAsync(async () => await service.ScalarAsync(
                "SELECT count(*) FROM dp.staged_files f WHERE f.dataset_id = @id AND NOT EXISTS (SELECT 1 FROM dp.import_jobs j WHERE j.staged_file_id = f.id)",
                target) == 0, "staged files of cut-off uploads are still there");
            var after = await MeasureRoundAsync(api, routes);
            output.WriteLine($"after: {Describe(after)}");
        }
        finally
        {
            foreach (var upload in uploads) await upload.DisposeAsync();
        }
    }

    [Fact]
    public async Task While_clients_that_do_not_read_saturate_the_download_limit_other_routes_answer_in_time_and_excess_downloads_get_429()
    {
        // A download holds a database connection (its COPY) for as long as its client takes to read; before downloads were
        // bounded, twice the pool of clients that never read took every connection and the whole API answered 500/503.
        var api = service.Client(TimeSpan.FromSeconds(30));
        var repositoryId = await api.CreateRepositoryAsync();
        var big = await api.CreateDatasetAsync(repositoryId);
        // Long column names make the JSON download ~30x the upload: far more than the socket buffers between the service and a client.
        var names = Enumerable.Range(0, 40).Select(i => $"a_rather_long_column_name_that_every_json_row_repeats_{i:D2}").ToList();
        var csv = new StringBuilder("Date,Country," + string.Join(",", names) + "\n");
        for (var row = 0; row < 12_000; row++) csv.Append($"2021-01-01,C{row}").Append(string.Concat(Enumerable.Repeat(",1", names.Count))).Append('\n');
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(big, csv.ToString(), ApiClient.DateCountryManifest)).GetProperty("status").GetString());
        var routes = new[] { "/repositories", $"/datasets/{big}", $"/datasets/{big}/date-stats", "/health/ready" };

        var readers = new List<StalledReader>();
        try
        {
            for (var i = 0; i < 2 * TightLimitsService.PoolSize; i++)
                readers.Add(await StalledReader.StartAsync(service.HttpPort, $"/datasets/{big}/data?$format=json", service.AdminKey));
            var during = new List<(string Route, TimeSpan Took, HttpStatusCode Status)>();
            var window = Stopwatch.StartNew();
            while (window.Elapsed < SaturationWindow) during.AddRange(await MeasureRoundAsync(api, routes));
            output.WriteLine($"while {readers.Count} clients do not read their downloads ({during.Count} requests): {Describe(during)}");
            Assert.All(during, d => Assert.True(d.Status == HttpStatusCode.OK && d.Took < RouteDeadline,
                $"{d.Route} answered {(int)d.Status} after {d.Took.TotalMilliseconds:F0} ms while downloads were saturated"));

            // Exactly the downloads beyond the limit were refused at once, with a ProblemDetails 429 and Retry-After.
            var heads = await Task.WhenAll(readers.Select(r => r.HeadAsync()));
            var refused = heads.Where(h => h.StartsWith("HTTP/1.1 429", StringComparison.Ordinal)).ToList();
            Assert.Equal(2 * TightLimitsService.PoolSize - TightLimitsService.MaxConcurrentDownloads, refused.Count);
            Assert.All(refused, h => Assert.Contains("Retry-After:", h, StringComparison.OrdinalIgnoreCase));
            Assert.All(refused, h => Assert.Contains("concurrent downloads", h));
            Assert.Equal(TightLimitsService.MaxConcurrentDownloads, heads.Count(h => h.StartsWith("HTTP/1.1 200", StringComparison.Ordinal)));
        }
        finally
        {
            foreach (var reader in readers) reader.Dispose();
        }
        // The clients went away: once the service notices, their queries end and the download slots come back.
        HttpResponseMessage full;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((full = await api.Http.GetAsync($"/datasets/{big}/data?$format=json")).StatusCode == HttpStatusCode.TooManyRequests)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("The download slots never came back after their clients went away.");
            await Task.Delay(100);
        }
        Assert.Equal(HttpStatusCode.OK, full.StatusCode);
        Assert.Equal(12_000, (await full.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    /// <summary>A client that sends a GET and then reads only the response's first bytes, holding the connection open.</summary>
    private sealed class StalledReader : IDisposable
    {
        private readonly System.Net.Sockets.TcpClient _tcp;
        private StalledReader(System.Net.Sockets.TcpClient tcp) => _tcp = tcp;

        public static async Task<StalledReader> StartAsync(int port, string pathAndQuery, string key)
        {
            var tcp = new System.Net.Sockets.TcpClient { ReceiveBufferSize = 4096 };
            await tcp.ConnectAsync("127.0.0.1", port);
            var auth = Convert.ToBase64String(Encoding.UTF8.GetBytes(key + ":"));
            await tcp.GetStream().WriteAsync(Encoding.ASCII.GetBytes($"GET {pathAndQuery} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Basic {auth}\r\n\r\n"));
            return new StalledReader(tcp);
        }

        /// <summary>The first bytes of the response (status line, headers, and for a refusal its small body).</summary>
        public async Task<string> HeadAsync()
        {
            var buffer = new byte[2048];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var read = await _tcp.GetStream().ReadAsync(buffer, timeout.Token);
            return Encoding.UTF8.GetString(buffer, 0, read);
        }

        public void Dispose() => _tcp.Dispose();
    }

    [Fact]
    public async Task An_upload_that_stalls_after_some_chunks_is_cut_off_and_leaves_nothing_while_a_fast_one_of_many_chunks_is_kept()
    {
        var api = service.Client();
        var datasetId = await api.NewDatasetAsync();
        var big = Encoding.UTF8.GetBytes("Date,Country,Value\n" + string.Concat(Enumerable.Range(0, 120_000).Select(i => $"2022-02-02,Big{i:D7},{i}.25\n")));
        Assert.True(big.Length > 3 * (1 << 20), "the file must span several 1 MiB chunks");

        // 2.5 MiB at once (two chunks written), then silence: the average rate stays high for minutes, the idle limit cuts it off.
        var body = MultipartBody("stalled.csv", big);
        await using var stalled = await SlowUpload.StartAsync(service.HttpPort, "PUT", $"/datasets/{datasetId}/data", Headers(), body, 5 << 19, 0,
            TimeSpan.FromHours(1));
        await PollUntilAsync(async () => await service.ScalarAsync(
            "SELECT count(*) FROM dp.staged_file_chunks c JOIN dp.staged_files f ON f.id = c.file_id WHERE f.dataset_id = @id", datasetId) >= 2,
            "the first chunks of the stalled upload were never written");
        var response = await stalled.Response.WaitAsync(TimeSpan.FromSeconds(90));
        Assert.True(response.Status is 0 or 408, $"The stalled upload answered {response.Status}: {response.Body}");
        await PollUntilAsync(async () => await service.ScalarAsync("SELECT count(*) FROM dp.staged_files WHERE dataset_id = @id", datasetId) == 0,
            "the stalled upload's chunks are still staged");
        Assert.Equal(0, await service.ScalarAsync("SELECT count(*) FROM dp.import_jobs WHERE dataset_id = @id", datasetId));

        // The same file sent at full speed is staged chunk by chunk and read back whole.
        var content = new MultipartFormDataContent
        {
            { new StringContent(ApiClient.DateCountryManifest), "manifest" },
            { new ByteArrayContent(big), "data", "fast.csv" },
        };
        var created = await ApiClient.ExpectJsonAsync(await api.Http.PutAsync($"/datasets/{datasetId}/data", content), HttpStatusCode.Created);
        Assert.Equal("Processed", (await api.WaitForProcessAsync(datasetId, created.GetProperty("id").GetInt64())).GetProperty("status").GetString());
        Assert.Equal(120_000, (await api.GetJsonAsync($"/datasets/{datasetId}/date-stats")).GetProperty("rows").GetInt64());
        Assert.Equal(big.Length, await service.ScalarAsync("SELECT sum(length(c.data)) FROM dp.staged_file_chunks c JOIN dp.staged_files f ON f.id = c.file_id WHERE f.dataset_id = @id", datasetId));
    }

    [Fact]
    public async Task A_client_trickling_below_the_minimum_rate_is_cut_off_after_the_grace_period()
    {
        var datasetId = await service.Client().NewDatasetAsync();
        // 400 B/s, a few bytes every quarter second: never silent, but under the 1 KB/s minimum.
        var watch = Stopwatch.StartNew();
        await using var trickle = await SlowUpload.StartAsync(service.HttpPort, "PUT", $"/datasets/{datasetId}/data", Headers(), MultipartBody(0), 256, 100,
            TimeSpan.FromMilliseconds(250));
        var response = await trickle.Response.WaitAsync(TimeSpan.FromSeconds(60));
        output.WriteLine($"cut off after {watch.Elapsed.TotalSeconds:F1} s and {trickle.BytesSent} bytes");
        Assert.True(response.Status is 0 or 408, $"The trickling upload answered {response.Status}: {response.Body}");
        Assert.True(watch.Elapsed >= TightLimitsService.RateGracePeriod, "cut off before its grace period");
        await PollUntilAsync(async () => await service.ScalarAsync("SELECT count(*) FROM dp.staged_files WHERE dataset_id = @id", datasetId) == 0,
            "the trickling upload's file is still staged");
        Assert.Equal(0, await service.ScalarAsync("SELECT count(*) FROM dp.import_jobs WHERE dataset_id = @id", datasetId));
    }

    [Fact]
    public async Task An_upload_abandoned_by_a_crashed_gateway_is_swept_and_gives_its_presigned_url_back()
    {
        var api = service.Client();
        var datasetId = await api.NewDatasetAsync();
        var url = await ApiClient.ExpectJsonAsync(await api.Http.GetAsync($"/datasets/{datasetId}/upload-url/tasks.jsonl"), HttpStatusCode.Created);
        var importId = long.Parse(url.GetProperty("import_id").GetString()!);
        // What a gateway killed mid-upload leaves: a claimed URL and an unfinished staged file last touched long ago.
        var fileId = Guid.NewGuid();
        await service.ScalarAsync(
            $"""
            INSERT INTO dp.staged_files (id, dataset_id, file_name, complete, touched_at) VALUES ('{fileId}', {datasetId}, 'tasks.jsonl', false, now());
            INSERT INTO dp.staged_file_chunks (file_id, seq, data) VALUES ('{fileId}', 0, '\x41');
            UPDATE dp.import_jobs SET upload_file_id = '{fileId}' WHERE id = {importId};
            SELECT 1
            """);
        using var anonymous = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{service.HttpPort}") };
        var path = new Uri(url.GetProperty("upload_url").GetString()!).PathAndQuery;
        Assert.Equal(HttpStatusCode.Conflict, (await anonymous.PutAsync(path, new StringContent("{}\n"))).StatusCode);
        // Aged only now: the sweep runs every second, and must not release the URL before the PUT above saw it claimed.
        await service.ScalarAsync($"UPDATE dp.staged_files SET touched_at = now() - interval '2 hours' WHERE id = '{fileId}'; SELECT 1");

        await PollUntilAsync(async () => await service.ScalarAsync("SELECT count(*) FROM dp.staged_files WHERE dataset_id = @id", datasetId) == 0,
            "the abandoned upload was never swept");
        Assert.Equal(0, await service.ScalarAsync("SELECT count(*) FROM dp.import_jobs WHERE id = @id AND upload_file_id IS NOT NULL", importId));
        var retry = await anonymous.PutAsync(path, new StringContent("{\"a\":1}\n"));
        Assert.Equal(HttpStatusCode.OK, retry.StatusCode);
    }

    [Fact]
    public async Task Imports_beyond_the_silo_limit_wait_queued_and_all_finish()
    {
        var api = service.Client();
        var csv = "Date,Country,Value\n" + string.Concat(Enumerable.Range(0, 60_000).Select(i => $"2023-03-03,G{i:D6},{i}.5\n"));
        var datasets = new List<long>();
        for (var i = 0; i < 2 * TightLimitsService.MaxConcurrentImports + 1; i++) datasets.Add(await api.NewDatasetAsync());
        var uploads = await Task.WhenAll(datasets.Select(async id =>
            (id, process: (await ApiClient.ExpectJsonAsync(await api.UploadAsync(id, csv, ApiClient.DateCountryManifest), HttpStatusCode.Created)).GetProperty("id").GetInt64())));

        // Never more than the limit are processing at once; the others wait as queued (Requested), none fails. Read from the jobs'
        // own times once all are done (each is processing from its started_at to its processed_at, inside its import slot): a
        // poll of the statuses missed every one of them once, these imports being that quick.
        var deadline = DateTime.UtcNow.AddSeconds(180);
        var ids = string.Join(",", uploads.Select(u => u.process));
        while (await service.ScalarAsync($"SELECT count(*) FROM dp.import_jobs WHERE id IN ({ids}) AND status IN ('queued', 'processing')") > 0)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("The imports did not finish.");
            await Task.Delay(20);
        }
        var maxProcessing = await service.ScalarAsync(
            $"""
            SELECT max((SELECT count(*) FROM dp.import_jobs o WHERE o.id IN ({ids}) AND o.started_at <= j.started_at AND o.processed_at > j.started_at))
            FROM dp.import_jobs j WHERE j.id IN ({ids})
            """);
        output.WriteLine($"at most {maxProcessing} of {uploads.Length} imports were processing at once (limit {TightLimitsService.MaxConcurrentImports})");
        Assert.InRange(maxProcessing, 1, TightLimitsService.MaxConcurrentImports);
        foreach (var (id, process) in uploads)
        {
            var done = await api.WaitForProcessAsync(id, process);
            Assert.Equal("Processed", done.GetProperty("status").GetString());
        }
    }

    private const int RowsPerUpload = 1500;

    private static byte[] MultipartBody(string fileName, byte[] file)
    {
        var head = Encoding.UTF8.GetBytes(
            $"--{Boundary}\r\nContent-Disposition: form-data; name=\"manifest\"\r\n\r\n{ApiClient.DateCountryManifest}\r\n" +
            $"--{Boundary}\r\nContent-Disposition: form-data; name=\"data\"; filename=\"{fileName}\"\r\nContent-Type: text/csv\r\n\r\n");
        return [.. head, .. file, .. Encoding.UTF8.GetBytes($"\r\n--{Boundary}--\r\n")];
    }

    /// <summary>Upload <paramref name="index"/>'s multipart body: a manifest and a CSV of rows only it has (country U{index}R{row}).</summary>
    private static byte[] MultipartBody(int index)
    {
        var csv = new StringBuilder("Date,Country,Value\n");
        for (var row = 0; row < RowsPerUpload; row++) csv.Append($"2021-01-01,U{index}R{row},{row}.5\n");
        var body = new StringBuilder();
        body.Append($"--{Boundary}\r\nContent-Disposition: form-data; name=\"manifest\"\r\n\r\n{ApiClient.DateCountryManifest}\r\n");
        body.Append($"--{Boundary}\r\nContent-Disposition: form-data; name=\"data\"; filename=\"slow.csv\"\r\nContent-Type: text/csv\r\n\r\n");
        body.Append(csv).Append($"\r\n--{Boundary}--\r\n");
        return Encoding.UTF8.GetBytes(body.ToString());
    }

    private Dictionary<string, string> Headers() => new()
    {
        ["Content-Type"] = $"multipart/form-data; boundary={Boundary}",
        ["Authorization"] = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(service.AdminKey + ":")),
    };

    private static async Task<List<(string Route, TimeSpan Took, HttpStatusCode Status)>> MeasureRoundAsync(ApiClient api, IEnumerable<string> routes)
    {
        var results = new List<(string, TimeSpan, HttpStatusCode)>();
        foreach (var route in routes)
        {
            var watch = Stopwatch.StartNew();
            HttpStatusCode status;
            try
            {
                using var response = await api.Http.GetAsync(route);
                await response.Content.ReadAsByteArrayAsync();
                status = response.StatusCode;
            }
            catch (TaskCanceledException) { status = HttpStatusCode.RequestTimeout; }
            results.Add((route, watch.Elapsed, status));
        }
        return results;
    }

    private static string Describe(IEnumerable<(string Route, TimeSpan Took, HttpStatusCode Status)> results) =>
        string.Join(", ", results.GroupBy(r => r.Route).Select(g =>
            $"{g.Key} max {g.Max(r => r.Took).TotalMilliseconds:F0} ms [{string.Join("/", g.Select(r => (int)r.Status).Distinct())}]"));

    private static double Median(IEnumerable<TimeSpan> values)
    {
        var sorted = values.Select(v => v.TotalMilliseconds).Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    private static Task PollUntilAsync(Func<Task<bool>> condition, string failure) => Poll.UntilAsync(condition, TimeSpan.FromSeconds(60), failure);
}
