using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using DatasetPlatform.Tests.Infrastructure;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace DatasetPlatform.Tests;

/// <summary>
/// The API reference as a user meets it: the OpenAPI document at /openapi/v1.json describes every public route the app maps
/// (read from the app's own endpoint list, so a new route cannot go undocumented) with its security and its problems, and
/// leaves the internal ones out; the Scalar page at /reference answers without a key and without the internet; and the
/// document's examples work against the real API as they stand.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed partial class OpenApiReferenceTests(PlatformFixture platform)
{
    private static readonly string[] InternalPrefixes = ["/dashboard", "/openapi", "/reference", "/console"]; // the web console is a page, not API
    private static readonly string[] Tags = ["Alphacast", "V4 presigned uploads", "Data8 blocks", "Versioned datasets (seed 004)", "Keys and operations", "Health"];

    [Fact]
    public async Task The_document_is_openapi_3_with_the_key_schemes_the_gateway_accepts()
    {
        var text = await (await platform.RawClient().GetAsync("/openapi/v1.json")).Content.ReadAsStringAsync();
        // Valid for an OpenAPI reader: it parses, resolves every $ref, and passes the reader's validation rules.
        var parsed = Microsoft.OpenApi.OpenApiDocument.Parse(text, "json");
        Assert.True(parsed.Diagnostic is null || parsed.Diagnostic.Errors.Count == 0,
            "The document is not valid OpenAPI:\n" + string.Join("\n", parsed.Diagnostic?.Errors.Select(e => $"{e.Pointer}: {e.Message}") ?? []));
        var invalid = Microsoft.OpenApi.OpenApiElementExtensions.Validate(parsed.Document!, Microsoft.OpenApi.ValidationRuleSet.GetDefaultRuleSet()).ToList();
        Assert.True(invalid.Count == 0, "The document breaks OpenAPI rules:\n" + string.Join("\n", invalid.Select(e => $"{e.Pointer}: {e.Message}")));
        var document = JsonDocument.Parse(text).RootElement;
        Assert.StartsWith("3.", document.GetProperty("openapi").GetString());
        Assert.Equal("DatasetPlatform API", document.GetProperty("info").GetProperty("title").GetString());
        var schemes = document.GetProperty("components").GetProperty("securitySchemes");
        Assert.Equal(("http", "basic"), (schemes.GetProperty("basic").GetProperty("type").GetString(), schemes.GetProperty("basic").GetProperty("scheme").GetString()));
        Assert.Equal(("http", "bearer"), (schemes.GetProperty("bearer").GetProperty("type").GetString(), schemes.GetProperty("bearer").GetProperty("scheme").GetString()));
        foreach (var (id, location, name) in new[] { ("token", "header", "Authorization"), ("apiKey", "query", "apiKey") })
        {
            var scheme = schemes.GetProperty(id);
            Assert.Equal(("apiKey", location, name), (scheme.GetProperty("type").GetString(), scheme.GetProperty("in").GetString(), scheme.GetProperty("name").GetString()));
        }
        Assert.Equal(Tags, document.GetProperty("tags").EnumerateArray().Select(t => t.GetProperty("name").GetString()!).ToArray());

        // Each documented scheme really lets a key in, sent the way the scheme says.
        var key = platform.AdminKey;
        foreach (var authorize in new Action<HttpRequestMessage>[]
                 {
                     r => r.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(key + ":"))),
                     r => r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key),
                     r => r.Headers.TryAddWithoutValidation("Authorization", "Token " + key),
                     r => r.RequestUri = new Uri("/repositories?limit=1&apiKey=" + Uri.EscapeDataString(key), UriKind.Relative),
                 })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/repositories?limit=1");
            authorize(request);
            Assert.Equal(HttpStatusCode.OK, (await platform.RawClient().SendAsync(request)).StatusCode);
        }
    }

    [Fact]
    public async Task Every_public_route_has_an_operation_with_its_security_and_problem_responses()
    {
        var document = await DocumentAsync();
        var paths = document.GetProperty("paths");
        var endpoints = platform.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>().ToList();
        var failures = new List<string>();
        var documented = 0;
        foreach (var endpoint in endpoints)
        {
            var path = DocumentPath(endpoint.RoutePattern.RawText!);
            if (InternalPrefixes.Any(prefix => path == prefix || path.StartsWith(prefix + "/", StringComparison.Ordinal))) continue;
            // Routes mapped for every method (Prometheus' /metrics) are documented as the GET they are used with.
            foreach (var method in endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["GET"])
            {
                var name = $"{method} {path}";
                if (!paths.TryGetProperty(path, out var item) || !item.TryGetProperty(method.ToLowerInvariant(), out var operation))
                {
                    failures.Add($"{name}: no operation in the document");
                    continue;
                }
                documented++;
                if (!operation.TryGetProperty("summary", out var summary) || string.IsNullOrWhiteSpace(summary.GetString())) failures.Add($"{name}: no summary");
                var tags = operation.GetProperty("tags").EnumerateArray().Select(t => t.GetString()).ToList();
                if (tags.Count != 1 || !Tags.Contains(tags[0])) failures.Add($"{name}: tags {string.Join(", ", tags)}");

                var responses = operation.GetProperty("responses");
                var anonymous = endpoint.Metadata.GetMetadata<IAllowAnonymous>() is not null;
                var security = operation.TryGetProperty("security", out var list) ? list.EnumerateArray().ToList() : [];
                if (anonymous && security.Any(requirement => requirement.EnumerateObject().Any()))
                    failures.Add($"{name}: anonymous, but the document asks for credentials");
                if (!anonymous)
                {
                    var schemes = security.SelectMany(requirement => requirement.EnumerateObject().Select(p => p.Name)).Order().ToList();
                    if (!schemes.SequenceEqual(["apiKey", "basic", "bearer", "token"])) failures.Add($"{name}: security [{string.Join(", ", schemes)}]");
                    if (!responses.TryGetProperty("401", out _)) failures.Add($"{name}: needs a key but documents no 401");
                }
                if (endpoint.Metadata.GetMetadata<EnableRateLimitingAttribute>() is not null
                    && !(responses.TryGetProperty("429", out var limited) && limited.TryGetProperty("headers", out var headers) && headers.TryGetProperty("Retry-After", out _)))
                    failures.Add($"{name}: rate-limited, but no 429 with Retry-After");
                if (!responses.EnumerateObject().Any(r => r.Name.StartsWith('2'))) failures.Add($"{name}: no success response");
                foreach (var response in responses.EnumerateObject().Where(r => int.Parse(r.Name) >= 400))
                {
                    var content = response.Value.TryGetProperty("content", out var c) ? c.EnumerateObject().Select(p => p.Name).ToList() : [];
                    if (!content.SequenceEqual(["application/problem+json"])) failures.Add($"{name} {response.Name}: content [{string.Join(", ", content)}], not a problem");
                }
            }
        }
        Assert.True(failures.Count == 0, $"{failures.Count} problems in the document:\n" + string.Join("\n", failures));
        // Nothing else: the internal routes (dashboard, its assets, the document and the page themselves) are left out.
        var operations = paths.EnumerateObject().Sum(p => p.Value.EnumerateObject().Count(o => o.Name != "parameters"));
        Assert.Equal(documented, operations);
        Assert.DoesNotContain(paths.EnumerateObject(), p => InternalPrefixes.Any(prefix => p.Name.StartsWith(prefix, StringComparison.Ordinal)));
        Assert.True(documented >= 56, $"only {documented} operations");
    }

    [Fact]
    public async Task The_reference_page_answers_without_a_key_and_loads_nothing_from_elsewhere()
    {
        var client = platform.NoRedirectClient();
        var bare = await client.GetAsync("/reference");
        // The page loads its script relative to itself, so the bare path sends the browser on to "/reference/".
        Assert.True((int)bare.StatusCode is >= 301 and <= 308 && new Uri(new Uri("http://localhost/reference"), bare.Headers.Location!).AbsolutePath == "/reference/",
            $"/reference answered {(int)bare.StatusCode} {bare.Headers.Location}");

        var page = await client.GetAsync("/reference/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("openapi/v1.json", html);
        // Every script comes from the gateway, with the nonce that the page's Content-Security-Policy allows.
        var policy = string.Join(";", page.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("default-src 'none'", policy);
        Assert.Contains("frame-ancestors 'none'", policy);
        var nonce = Regex.Match(policy, "script-src 'self' 'nonce-([^']+)'").Groups[1].Value;
        Assert.NotEmpty(nonce);
        var scripts = ScriptTag().Matches(html).Select(m => m.Value).ToList();
        Assert.NotEmpty(scripts);
        Assert.All(scripts, script => Assert.Contains($"nonce=\"{nonce}\"", script));
        Assert.DoesNotMatch("(src|href)=\"(https?:)?//", html);

        foreach (var asset in new[] { "/reference/scalar.js", "/reference/scalar.aspnetcore.js" })
        {
            var script = await client.GetAsync(asset);
            Assert.Equal(HttpStatusCode.OK, script.StatusCode);
            Assert.Contains("javascript", script.Content.Headers.ContentType?.MediaType);
            Assert.True((await script.Content.ReadAsByteArrayAsync()).Length > 1000, asset);
        }
        // The document the page shows is anonymous too.
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/openapi/v1.json")).StatusCode);
    }

    [Fact]
    public async Task The_documented_multipart_upload_fields_and_manifest_example_upload()
    {
        var document = await DocumentAsync();
        var operation = document.GetProperty("paths").GetProperty("/datasets/{id}/data").GetProperty("put");
        var multipart = operation.GetProperty("requestBody").GetProperty("content").GetProperty("multipart/form-data");
        var properties = Resolve(document, multipart.GetProperty("schema")).GetProperty("properties").EnumerateObject().ToList();
        var fileField = Assert.Single(properties, p => p.Value.TryGetProperty("format", out var f) && f.GetString() == "binary").Name;
        var example = multipart.GetProperty("example");

        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        var content = new MultipartFormDataContent();
        foreach (var field in example.EnumerateObject()) content.Add(new StringContent(field.Value.GetString()!), field.Name);
        content.Add(new ByteArrayContent(Encoding.UTF8.GetBytes("Date,Country,GDP\n2020-01-01,USA,100.5\n2020-01-01,ARG,50\n")), fileField, "gdp.csv");
        var response = await api.Http.PutAsync($"/datasets/{datasetId}/data", content);
        var process = await ApiClient.ExpectJsonAsync(response, HttpStatusCode.Created);
        Assert.True(operation.GetProperty("responses").TryGetProperty("201", out var created));
        // The answer has the members the document's schema promises.
        var schema = Resolve(document, created.GetProperty("content").GetProperty("application/json").GetProperty("schema"));
        foreach (var member in schema.GetProperty("properties").EnumerateObject()) Assert.True(process.TryGetProperty(member.Name, out _), member.Name);

        var finished = await api.WaitForProcessAsync(datasetId, process.GetProperty("id").GetInt64());
        Assert.Equal("Processed", finished.GetProperty("status").GetString());
        var csv = await api.DownloadAsync(datasetId);
        Assert.Contains("USA", csv);
        Assert.Contains("ARG", csv);
    }

    [Fact]
    public async Task The_documented_block_examples_create_a_dataset_and_store_a_block()
    {
        var document = await DocumentAsync();
        JsonElement Example(string path, string method) =>
            document.GetProperty("paths").GetProperty(path).GetProperty(method).GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("example");

        // A key of its own: the example's dataset name lands in that key's own repository.
        var admin = platform.Client();
        var key = (await ApiClient.ExpectJsonAsync(await admin.Http.PostAsJsonAsync("/keys", Example("/keys", "post")), HttpStatusCode.Created))
            .GetProperty("key").GetString()!;
        var http = platform.RawClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        var definition = Example("/Dataset", "post");
        var name = definition.GetProperty("name").GetString()!;
        await ApiClient.ExpectJsonAsync(await http.PostAsync("/Dataset", new StringContent(definition.GetRawText(), Encoding.UTF8, "application/json")), HttpStatusCode.Created);
        var block = Example("/Dataset/{name}/data", "patch");
        var stored = await ApiClient.ExpectJsonAsync(await http.PatchAsync($"/Dataset/{name}/data", new StringContent(block.GetRawText(), Encoding.UTF8, "application/json")),
            HttpStatusCode.OK);
        Assert.Equal(block.GetProperty("records").GetArrayLength(), stored.GetProperty("recordCount").GetInt32());
        var records = await ApiClient.ExpectJsonAsync(await http.GetAsync($"/Dataset/{name}/data"), HttpStatusCode.OK);
        Assert.Equal(["Ann", "Bob"], records.EnumerateArray().Select(r => r.GetProperty("Name").GetString()!).ToArray());
    }

    [Fact]
    public async Task The_documented_schema_and_presigned_put_examples_import_and_answer_the_documented_etag()
    {
        var document = await DocumentAsync();
        var paths = document.GetProperty("paths");
        var schema = paths.GetProperty("/datasets/{id}/schema").GetProperty("put").GetProperty("requestBody").GetProperty("content").GetProperty("application/json")
            .GetProperty("example");
        var put = paths.GetProperty("/uploads/{token}").GetProperty("put");
        var jsonLines = put.GetProperty("requestBody").GetProperty("content").GetProperty("application/x-ndjson").GetProperty("example").GetString()!;
        Assert.True(put.GetProperty("responses").GetProperty("200").GetProperty("headers").TryGetProperty("ETag", out _));

        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        await ApiClient.ExpectJsonAsync(await api.Http.PutAsync($"/datasets/{datasetId}/schema",
            new StringContent(schema.GetRawText(), Encoding.UTF8, "application/json")), HttpStatusCode.OK);
        var url = await ApiClient.ExpectJsonAsync(await api.Http.GetAsync($"/datasets/{datasetId}/upload-url/tasks.jsonl"), HttpStatusCode.Created);
        var uploaded = await platform.RawClient().PutAsync(new Uri(url.GetProperty("upload_url").GetString()!).PathAndQuery,
            new StringContent(jsonLines, Encoding.UTF8, "application/x-ndjson"));
        Assert.Equal(HttpStatusCode.OK, uploaded.StatusCode);
        Assert.Matches("^\"[0-9a-f]{64}\"$", uploaded.Headers.ETag?.Tag ?? "");

        var deadline = DateTime.UtcNow.AddSeconds(90);
        JsonElement import;
        do
        {
            import = await api.GetJsonAsync($"/datasets/{datasetId}/imports/{url.GetProperty("import_id").GetString()}");
            if (import.GetProperty("status").GetString() is "complete" or "partial" or "failed" or "pending_schema") break;
            await Task.Delay(100);
        } while (DateTime.UtcNow < deadline);
        Assert.Equal("complete", import.GetProperty("status").GetString());
        Assert.Equal(jsonLines.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length, import.GetProperty("accepted_count").GetInt32());
    }

    private async Task<JsonElement> DocumentAsync()
    {
        var response = await platform.RawClient().GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    /// <summary>A schema, or the component a $ref points to.</summary>
    private static JsonElement Resolve(JsonElement document, JsonElement schema) =>
        schema.TryGetProperty("$ref", out var reference)
            ? document.GetProperty("components").GetProperty("schemas").GetProperty(reference.GetString()!.Split('/')[^1])
            : schema;

    /// <summary>"/datasets/{id:long}/" as the document writes it: "/datasets/{id}".</summary>
    private static string DocumentPath(string pattern) => "/" + RouteConstraint().Replace(pattern, "{$1}").Trim('/');

    [GeneratedRegex(@"\{([^}:?]+)[^}]*\}")]
    private static partial Regex RouteConstraint();

    [GeneratedRegex("<script[^>]*>")]
    private static partial Regex ScriptTag();
}
