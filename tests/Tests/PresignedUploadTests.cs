using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using DatasetPlatform.Grains.Storage;
using DatasetPlatform.Tests.Infrastructure;
using Npgsql;

namespace DatasetPlatform.Tests;

/// <summary>Seed 002: presigned upload URL, PUT without credentials, poll the import; partial, failed and pending_schema outcomes.</summary>
[Collection(nameof(PlatformCollection))]
public sealed class PresignedUploadTests(PlatformFixture platform)
{
    private const string Schema = """{"strict": true, "fields": {"prompt": {"type": "string", "label": "Prompt"}, "score": {"type": "integer", "label": "Score"}}}""";

    /// <summary>A Prolific-style client: Authorization: Token, full /api/v1/data-collection paths.</summary>
    private HttpClient TokenClient(string? key = null)
    {
        var http = platform.RawClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Token", key ?? platform.AdminKey);
        return http;
    }

    private async Task<long> DatasetWithSchemaAsync(string? schema = Schema)
    {
        var datasetId = await platform.Client().NewDatasetAsync();
        if (schema is not null)
        {
            var put = await TokenClient().PutAsync($"/api/v1/data-collection/datasets/{datasetId}/schema", new StringContent(schema, Encoding.UTF8, "application/json"));
            await ApiClient.ExpectJsonAsync(put, HttpStatusCode.OK);
        }
        return datasetId;
    }

    private async Task<JsonElement> UploadUrlAsync(long datasetId, string filename, string prefix = "/api/v1/data-collection")
    {
        var response = await TokenClient().GetAsync($"{prefix}/datasets/{datasetId}/upload-url/{filename}");
        return await ApiClient.ExpectJsonAsync(response, HttpStatusCode.Created);
    }

    /// <summary>PUT to the presigned URL exactly as S3 clients do: no Authorization header at all.</summary>
    private async Task<HttpResponseMessage> PutFileAsync(string uploadUrl, string body, string contentType)
    {
        var anonymous = platform.RawClient();
        var content = new StringContent(body, Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        return await anonymous.PutAsync(new Uri(uploadUrl).PathAndQuery, content);
    }

    private async Task<JsonElement> WaitForImportAsync(long datasetId, string importId)
    {
        var http = TokenClient();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var import = await ApiClient.ExpectJsonAsync(await http.GetAsync($"/api/v1/data-collection/datasets/{datasetId}/imports/{importId}"), HttpStatusCode.OK);
            if (import.GetProperty("status").GetString() is "complete" or "partial" or "failed" or "pending_schema") return import;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Import {importId} did not finish.");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Presigned_jsonl_upload_completes_and_reads_back()
    {
        var datasetId = await DatasetWithSchemaAsync();
        var url = await UploadUrlAsync(datasetId, "tasks.jsonl");
        Assert.Equal("PUT", url.GetProperty("http_method").GetString());
        Assert.Equal("application/x-ndjson", url.GetProperty("content_type").GetString());
        Assert.Equal(datasetId.ToString(), url.GetProperty("dataset_id").GetString());
        var importId = url.GetProperty("import_id").GetString()!;
        Assert.True(url.GetProperty("expires_at").GetDateTime() > DateTime.UtcNow);

        var before = await ApiClient.ExpectJsonAsync(await TokenClient().GetAsync($"/datasets/{datasetId}/imports/{importId}"), HttpStatusCode.OK);
        Assert.Equal("uninitialised", before.GetProperty("status").GetString());

        var put = await PutFileAsync(url.GetProperty("upload_url").GetString()!, "{\"prompt\":\"hello\",\"score\":3}\n{\"prompt\":\"a \\\"quoted\\\" one\",\"score\":5}\n", "application/x-ndjson");
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);

        var import = await WaitForImportAsync(datasetId, importId);
        Assert.Equal("complete", import.GetProperty("status").GetString());
        Assert.Equal("file_upload", import.GetProperty("type").GetString());
        Assert.Equal("tasks.jsonl", import.GetProperty("filename").GetString());
        Assert.Equal(2, import.GetProperty("accepted_count").GetInt64());
        Assert.Equal(0, import.GetProperty("rejected_count").GetInt64());

        var lines = (await platform.Client().DownloadAsync(datasetId, "?$format=json")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("a \"quoted\" one", JsonDocument.Parse(lines[1]).RootElement.GetProperty("prompt").GetString());
        Assert.Equal(2, (await platform.Client().GetJsonAsync($"/datasets/{datasetId}")).GetProperty("total_datapoint_count").GetInt64());
    }

    /// <summary>
    /// Records loaded through V4 have no key. An Alphacast upload into that dataset may append, but asking it to update
    /// (onConflictUpdateDB) or to delete missing rows needs a key: the import fails and says why, and the records stay as
    /// they were instead of being doubled.
    /// </summary>
    [Fact]
    public async Task Updating_records_that_have_no_key_through_the_Alphacast_door_fails_and_leaves_them_as_they_were()
    {
        var datasetId = await DatasetWithSchemaAsync();
        var url = await UploadUrlAsync(datasetId, "tasks.jsonl");
        var put = await PutFileAsync(url.GetProperty("upload_url").GetString()!, "{\"prompt\":\"hello\",\"score\":3}\n", "application/x-ndjson");
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal("complete", (await WaitForImportAsync(datasetId, url.GetProperty("import_id").GetString()!)).GetProperty("status").GetString());

        var api = platform.Client();
        foreach (var flags in (string[])["?onConflictUpdateDB=true", "?deleteMissingFromDB=true"])
        {
            var refused = await api.UploadAndWaitAsync(datasetId, "prompt,score\nhello,4\n", query: flags);
            Assert.Equal("Error", refused.GetProperty("status").GetString());
            Assert.Contains("this dataset has no key", refused.GetProperty("statusDescription").GetString());
        }
        Assert.Equal("prompt,score\nhello,3\n", await api.DownloadAsync(datasetId));

        var appended = await api.UploadAndWaitAsync(datasetId, "prompt,score\nhello,4\n");
        Assert.Equal("Processed", appended.GetProperty("status").GetString());
        Assert.Equal("prompt,score\nhello,3\nhello,4\n", await api.DownloadAsync(datasetId));
    }

    /// <summary>
    /// The first load creates the dataset's table in its own transaction and writes its rows frozen (COPY FREEZE): its pages
    /// are all-visible at once, so no vacuum or first read rewrites the table afterwards. A later load appends to a table that
    /// existed, as usual (its page is no longer all-visible). Both read back whole. The first load has more rows than go in one
    /// by one (PlatformFixture.CopyRowAtATimeMaxRows): PostgreSQL marks pages all-visible only for rows it buffers, and a
    /// first load small enough to go row by row leaves its few pages to the next vacuum.
    /// </summary>
    [Fact]
    public async Task The_first_load_writes_its_pages_all_visible_and_a_second_load_appends_as_usual()
    {
        var datasetId = await DatasetWithSchemaAsync();
        var visibility = new List<string>();
        var first = Enumerable.Range(0, PlatformFixture.CopyRowAtATimeMaxRows + 1).Select(i => (char)('a' + i)).ToList();
        var second = (char)('a' + first.Count);
        foreach (var (name, body) in new[]
            {
                ("first.jsonl", string.Concat(first.Select((p, i) => $"{{\"prompt\":\"{p}\",\"score\":{i}}}\n"))),
                ("second.jsonl", $"{{\"prompt\":\"{second}\",\"score\":3}}\n"),
            })
        {
            var url = await UploadUrlAsync(datasetId, name);
            Assert.Equal(HttpStatusCode.OK, (await PutFileAsync(url.GetProperty("upload_url").GetString()!, body, "application/x-ndjson")).StatusCode);
            Assert.Equal("complete", (await WaitForImportAsync(datasetId, url.GetProperty("import_id").GetString()!)).GetProperty("status").GetString());
            visibility.Add(await AllVisiblePagesAsync(datasetId));
        }

        Assert.Equal(["1 of 1 pages all-visible", "0 of 1 pages all-visible"], visibility);
        var lines = (await platform.Client().DownloadAsync(datasetId, "?$format=json")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal([.. first.Append(second).Select(c => c.ToString())], lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("prompt").GetString()).Order());
    }

    /// <summary>
    /// A first load of no more rows than go in one by one (PlatformFixture.CopyRowAtATimeMaxRows) is inserted row by row, not
    /// through COPY's buffer: its rows are frozen all the same and read back whole, but PostgreSQL marks pages all-visible only
    /// for buffered rows, so its page is not (the next vacuum sets it). That is what tells the two ways apart from outside.
    /// </summary>
    [Fact]
    public async Task A_first_load_small_enough_to_go_row_by_row_reads_back_whole_and_leaves_its_page_to_vacuum()
    {
        var datasetId = await DatasetWithSchemaAsync();
        var prompts = Enumerable.Range(0, PlatformFixture.CopyRowAtATimeMaxRows).Select(i => $"p{i}").ToList();
        var url = await UploadUrlAsync(datasetId, "small.jsonl");
        Assert.Equal(HttpStatusCode.OK, (await PutFileAsync(url.GetProperty("upload_url").GetString()!,
            string.Concat(prompts.Select((p, i) => $"{{\"prompt\":\"{p}\",\"score\":{i}}}\n")), "application/x-ndjson")).StatusCode);
        Assert.Equal("complete", (await WaitForImportAsync(datasetId, url.GetProperty("import_id").GetString()!)).GetProperty("status").GetString());

        Assert.Equal("0 of 1 pages all-visible", await AllVisiblePagesAsync(datasetId));
        var lines = (await platform.Client().DownloadAsync(datasetId, "?$format=json")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(prompts, lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("prompt").GetString()!).Order(StringComparer.Ordinal));
    }

    /// <summary>ANALYZE counts the table's pages and its all-visible ones (the visibility map) into pg_class.</summary>
    private async Task<string> AllVisiblePagesAsync(long datasetId)
    {
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        var table = DataTables.QualifiedName(datasetId);
        await using var command = new NpgsqlCommand(
            $"ANALYZE {table}; SELECT relallvisible || ' of ' || relpages || ' pages all-visible' FROM pg_class WHERE oid = '{table}'::regclass", connection);
        return (string)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task Bad_records_are_rejected_one_by_one_and_the_rest_is_kept()
    {
        var datasetId = await DatasetWithSchemaAsync();
        var url = await UploadUrlAsync(datasetId, "mixed.jsonl", prefix: "");
        const string body = """
            {"prompt": "ok", "score": 1}
            {"prompt": "bad score", "score": "high"}
            not json at all
            {"prompt": "extra", "score": 2, "colour": "red"}
            {"prompt": "also ok", "score": 4}
            """;
        Assert.Equal(HttpStatusCode.OK, (await PutFileAsync(url.GetProperty("upload_url").GetString()!, body, "application/x-ndjson")).StatusCode);
        var import = await WaitForImportAsync(datasetId, url.GetProperty("import_id").GetString()!);
        Assert.Equal("partial", import.GetProperty("status").GetString());
        Assert.Equal(2, import.GetProperty("accepted_count").GetInt64());
        Assert.Equal(3, import.GetProperty("rejected_count").GetInt64());
        var errors = import.GetProperty("errors").EnumerateArray().ToList();
        Assert.Equal([1L, 2L, 3L], errors.Select(e => e.GetProperty("record_index").GetInt64()));
        Assert.Equal("score", errors[0].GetProperty("field").GetString());
        Assert.Contains("not a valid integer", errors[0].GetProperty("reason").GetString());
        Assert.Contains("invalid JSON", errors[1].GetProperty("reason").GetString());
        Assert.Equal("colour", errors[2].GetProperty("field").GetString());

        var rows = await platform.Client().DownloadAsync(datasetId);
        Assert.Equal("prompt,score\nok,1\nalso ok,4\n", rows);

        // Without strict, unknown fields are ignored rather than rejected.
        var relaxed = await TokenClient().PutAsync($"/datasets/{datasetId}/schema",
            new StringContent(Schema.Replace("\"strict\": true", "\"strict\": false"), Encoding.UTF8, "application/json"));
        await ApiClient.ExpectJsonAsync(relaxed, HttpStatusCode.OK);
        var second = await UploadUrlAsync(datasetId, "more.jsonl");
        await PutFileAsync(second.GetProperty("upload_url").GetString()!, "{\"prompt\": \"extra\", \"score\": 2, \"colour\": \"red\"}\n", "application/x-ndjson");
        Assert.Equal("complete", (await WaitForImportAsync(datasetId, second.GetProperty("import_id").GetString()!)).GetProperty("status").GetString());
        Assert.Equal(3, (await platform.Client().GetJsonAsync($"/datasets/{datasetId}")).GetProperty("total_datapoint_count").GetInt64());
    }

    [Fact]
    public async Task A_file_that_cannot_be_parsed_fails_and_changes_nothing()
    {
        var datasetId = await DatasetWithSchemaAsync();
        var url = await UploadUrlAsync(datasetId, "broken.jsonl");
        await PutFileAsync(url.GetProperty("upload_url").GetString()!, "{\"prompt\": \"unterminated\n{oops\n", "application/x-ndjson");
        var import = await WaitForImportAsync(datasetId, url.GetProperty("import_id").GetString()!);
        Assert.Equal("failed", import.GetProperty("status").GetString());
        Assert.False(string.IsNullOrEmpty(import.GetProperty("reason").GetString()));
        Assert.Equal("", await platform.Client().DownloadAsync(datasetId));
    }

    [Fact]
    public async Task Without_a_schema_the_import_is_pending_schema_until_one_is_set()
    {
        var datasetId = await DatasetWithSchemaAsync(schema: null);
        var url = await UploadUrlAsync(datasetId, "first.csv");
        Assert.Equal("text/csv", url.GetProperty("content_type").GetString());
        await PutFileAsync(url.GetProperty("upload_url").GetString()!, "prompt,score\nhi,1\n", "text/csv");
        var pending = await WaitForImportAsync(datasetId, url.GetProperty("import_id").GetString()!);
        Assert.Equal("pending_schema", pending.GetProperty("status").GetString());

        var put = await TokenClient().PutAsync($"/datasets/{datasetId}/schema", new StringContent(Schema, Encoding.UTF8, "application/json"));
        await ApiClient.ExpectJsonAsync(put, HttpStatusCode.OK);
        var again = await UploadUrlAsync(datasetId, "first.csv");
        await PutFileAsync(again.GetProperty("upload_url").GetString()!, "prompt,score\nhi,1\n", "text/csv");
        Assert.Equal("complete", (await WaitForImportAsync(datasetId, again.GetProperty("import_id").GetString()!)).GetProperty("status").GetString());
        Assert.Equal("prompt,score\nhi,1\n", await platform.Client().DownloadAsync(datasetId));
    }

    [Fact]
    public async Task Reused_tampered_and_unauthorised_urls_are_refused_with_nothing_stored()
    {
        var datasetId = await DatasetWithSchemaAsync();
        var url = await UploadUrlAsync(datasetId, "once.jsonl");
        var uploadUrl = url.GetProperty("upload_url").GetString()!;
        Assert.Equal(HttpStatusCode.OK, (await PutFileAsync(uploadUrl, "{\"prompt\":\"a\",\"score\":1}\n", "application/x-ndjson")).StatusCode);
        Assert.Contains("already been used", await ApiClient.ExpectProblemAsync(
            await PutFileAsync(uploadUrl, "{\"prompt\":\"b\",\"score\":2}\n", "application/x-ndjson"), HttpStatusCode.Forbidden));

        // Flip one character of the signature, and forge a payload for another import id.
        var tampered = uploadUrl[..^2] + (uploadUrl[^2] == 'A' ? 'B' : 'A') + uploadUrl[^1];
        Assert.Contains("not valid", await ApiClient.ExpectProblemAsync(await PutFileAsync(tampered, "{}", "application/x-ndjson"), HttpStatusCode.Forbidden));
        var token = uploadUrl[(uploadUrl.LastIndexOf('/') + 1)..];
        var forgedPayload = Convert.ToBase64String(Encoding.UTF8.GetBytes($"999999:{DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds()}"))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var forged = uploadUrl.Replace(token, forgedPayload + token[token.IndexOf('.')..]);
        await ApiClient.ExpectProblemAsync(await PutFileAsync(forged, "{}", "application/x-ndjson"), HttpStatusCode.Forbidden);

        var import = await WaitForImportAsync(datasetId, url.GetProperty("import_id").GetString()!);
        Assert.Equal(1, import.GetProperty("accepted_count").GetInt64());
        Assert.Equal("prompt,score\na,1\n", await platform.Client().DownloadAsync(datasetId));

        // Asking for a URL needs Write on the dataset; the URL itself is the only credential of the PUT.
        var anonymous = platform.RawClient();
        await ApiClient.ExpectProblemAsync(await anonymous.GetAsync($"/datasets/{datasetId}/upload-url/x.jsonl"), HttpStatusCode.Unauthorized);
    }

    [Theory]
    [InlineData("""{"fields": {"a": {"type": 5}}}""", "unknown type")]
    [InlineData("""{"strict": true}""", "fields")]
    [InlineData("""{"fields": {}}""", "no fields")]
    public async Task A_malformed_schema_is_a_400(string schema, string expected)
    {
        var datasetId = await DatasetWithSchemaAsync(schema: null);
        var put = await TokenClient().PutAsync($"/datasets/{datasetId}/schema", new StringContent(schema, Encoding.UTF8, "application/json"));
        Assert.Contains(expected, await ApiClient.ExpectProblemAsync(put, HttpStatusCode.BadRequest));
    }

    [Fact]
    public async Task An_import_whose_url_expired_unused_ends_as_failed()
    {
        var datasetId = await DatasetWithSchemaAsync();
        var url = await UploadUrlAsync(datasetId, "never.jsonl");
        await using (var connection = new Npgsql.NpgsqlConnection(platform.ConnectionString))
        {
            await connection.OpenAsync();
            await using var expire = new Npgsql.NpgsqlCommand("UPDATE dp.import_jobs SET upload_expires_at = now() - interval '25 hours' WHERE id = @id", connection);
            expire.Parameters.AddWithValue("id", long.Parse(url.GetProperty("import_id").GetString()!));
            await expire.ExecuteNonQueryAsync();
        }
        var import = await WaitForImportAsync(datasetId, url.GetProperty("import_id").GetString()!);
        Assert.Equal("failed", import.GetProperty("status").GetString());
        Assert.Contains("expired", import.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task An_expired_url_is_refused()
    {
        var datasetId = await DatasetWithSchemaAsync();
        var url = await UploadUrlAsync(datasetId, "late.jsonl");
        var importId = long.Parse(url.GetProperty("import_id").GetString()!);
        // Sign a token that expired a minute ago with the server's own secret: only expiry can be wrong with it.
        await using var connection = new Npgsql.NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT value FROM dp.secrets WHERE name = 'upload-url'", connection);
        var secret = (byte[])(await command.ExecuteScalarAsync())!;
        var payload = Encoding.UTF8.GetBytes($"{importId}:{DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeSeconds()}");
        var mac = System.Security.Cryptography.HMACSHA256.HashData(secret, payload);
        var expired = $"/uploads/{System.Buffers.Text.Base64Url.EncodeToString(payload)}.{System.Buffers.Text.Base64Url.EncodeToString(mac)}";
        Assert.Contains("expired", await ApiClient.ExpectProblemAsync(await PutFileAsync("http://localhost" + expired, "{}", "application/x-ndjson"), HttpStatusCode.Forbidden));
        var import = await ApiClient.ExpectJsonAsync(await TokenClient().GetAsync($"/datasets/{datasetId}/imports/{importId}"), HttpStatusCode.OK);
        Assert.Equal("uninitialised", import.GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_second_upload_waits_in_queued_while_the_first_is_processing()
    {
        const int rows = 2_500_000;
        var datasetId = await DatasetWithSchemaAsync();
        // A large first file (gzip keeps it under the test server's upload limit) so it is still processing when the second arrives.
        byte[] big;
        using (var buffer = new MemoryStream())
        {
            using (var zip = new System.IO.Compression.GZipStream(buffer, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
            using (var writer = new StreamWriter(zip, new UTF8Encoding(false)))
                for (var i = 0; i < rows; i++) writer.Write($"{{\"prompt\":\"row {i}\",\"score\":{i % 100}}}\n");
            big = buffer.ToArray();
        }
        Assert.True(big.Length < PlatformFixture.MaxUploadBytes, $"the test file ({big.Length} bytes) must fit the test upload limit");
        var first = await UploadUrlAsync(datasetId, "big.jsonl.gz");
        var second = await UploadUrlAsync(datasetId, "small.jsonl");
        var anonymous = platform.RawClient();
        Assert.Equal(HttpStatusCode.OK, (await anonymous.PutAsync(new Uri(first.GetProperty("upload_url").GetString()!).PathAndQuery, new ByteArrayContent(big))).StatusCode);

        var http = TokenClient();
        async Task<string> StatusAsync(JsonElement url) =>
            (await ApiClient.ExpectJsonAsync(await http.GetAsync($"/datasets/{datasetId}/imports/{url.GetProperty("import_id").GetString()}"), HttpStatusCode.OK))
            .GetProperty("status").GetString()!;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (await StatusAsync(first) != "processing")
        {
            Assert.True(DateTime.UtcNow < deadline, "The first import never started.");
            await Task.Delay(10);
        }
        Assert.Equal(HttpStatusCode.OK,
            (await PutFileAsync(second.GetProperty("upload_url").GetString()!, "{\"prompt\":\"last\",\"score\":1}\n", "application/x-ndjson")).StatusCode);

        var sawQueuedBehindProcessing = false;
        var seen = new List<string>();
        while (DateTime.UtcNow < deadline)
        {
            // Read the second first: if it has started, the first (read after it) must have finished already.
            var b = await StatusAsync(second);
            var a = await StatusAsync(first);
            if (seen.Count == 0 || seen[^1] != $"{a}/{b}") seen.Add($"{a}/{b}");
            if (b != "queued") Assert.Equal("complete", a);
            if (a == "processing" && b == "queued") sawQueuedBehindProcessing = true;
            if (a == "complete") break;
            await Task.Delay(20);
        }
        Assert.True(sawQueuedBehindProcessing, "The second import was never seen queued while the first was processing: " + string.Join(", ", seen));
        Assert.Equal("complete", (await WaitForImportAsync(datasetId, second.GetProperty("import_id").GetString()!)).GetProperty("status").GetString());
        Assert.Equal(rows + 1, (await platform.Client().GetJsonAsync($"/datasets/{datasetId}")).GetProperty("total_datapoint_count").GetInt64());
    }
}
