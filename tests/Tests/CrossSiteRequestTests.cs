using System.Net;
using System.Net.Http.Headers;
using System.Text;
using DatasetPlatform.Tests.Infrastructure;

namespace DatasetPlatform.Tests;

/// <summary>
/// Forged browser requests (CSRF): a browser that holds an admin's Basic credentials resends them to any request a
/// foreign page makes. Such requests carry Origin / Sec-Fetch-Site, and state-changing ones are refused; API clients
/// (no such headers), our own pages and the presigned PUT (its URL is its own credential) keep working.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class CrossSiteRequestTests(PlatformFixture platform)
{
    private const string Evil = "https://evil.example";

    private static HttpRequestMessage Request(HttpMethod method, string path, HttpContent? content = null, string? origin = null, string? fetchSite = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = content };
        if (origin is not null) request.Headers.Add("Origin", origin);
        if (fetchSite is not null) request.Headers.Add("Sec-Fetch-Site", fetchSite);
        return request;
    }

    [Fact]
    public async Task Forged_form_posts_with_an_admins_credentials_are_refused_and_change_nothing()
    {
        var admin = platform.Client();
        var name = "csrf " + Guid.NewGuid().ToString("N")[..8];

        // A form on another site, old browser (Origin only) and new browser (Sec-Fetch-Site too).
        var byOrigin = await admin.Http.SendAsync(Request(HttpMethod.Post, "/keys", ApiClient.Form(("name", name), ("isAdmin", "true")), origin: Evil));
        Assert.Contains("origin 'https://evil.example'", await ApiClient.ExpectProblemAsync(byOrigin, HttpStatusCode.Forbidden));
        var byFetchSite = await admin.Http.SendAsync(Request(HttpMethod.Post, "/repositories", ApiClient.Form(("name", name)), fetchSite: "cross-site"));
        Assert.Contains("Sec-Fetch-Site: cross-site", await ApiClient.ExpectProblemAsync(byFetchSite, HttpStatusCode.Forbidden));
        // A sibling subdomain is another application too; a sandboxed frame or file: page says "null".
        await ApiClient.ExpectProblemAsync(await admin.Http.SendAsync(Request(HttpMethod.Post, "/repositories", ApiClient.Form(("name", name)),
            origin: "https://other.localhost", fetchSite: "same-site")), HttpStatusCode.Forbidden);
        await ApiClient.ExpectProblemAsync(await admin.Http.SendAsync(Request(HttpMethod.Post, "/repositories", ApiClient.Form(("name", name)), origin: "null")),
            HttpStatusCode.Forbidden);
        // Another application on the same host but another port is another origin (old browser: Origin only).
        var ownHost = admin.Http.BaseAddress!;
        Assert.True(ownHost.IsDefaultPort, "the test server is addressed without a port");
        await ApiClient.ExpectProblemAsync(await admin.Http.SendAsync(Request(HttpMethod.Post, "/repositories", ApiClient.Form(("name", name)),
            origin: $"{ownHost.Scheme}://{ownHost.Host}:8080")), HttpStatusCode.Forbidden);

        Assert.DoesNotContain((await admin.GetJsonAsync("/keys?limit=1000")).EnumerateArray(), k => k.GetProperty("name").GetString() == name);
        Assert.DoesNotContain((await admin.GetJsonAsync("/repositories?limit=1000")).EnumerateArray(), r => r.GetProperty("name").GetString() == name);

        // DELETE, PUT (upload) and PATCH (block) are refused the same way; the dataset and its data stay.
        var datasetId = await admin.NewDatasetAsync();
        await admin.UploadAndWaitAsync(datasetId, "Date,Country,Value\n2020-01-01,USA,1\n", ApiClient.DateCountryManifest);
        await ApiClient.ExpectProblemAsync(await admin.Http.SendAsync(Request(HttpMethod.Delete, $"/datasets/{datasetId}", origin: Evil, fetchSite: "cross-site")),
            HttpStatusCode.Forbidden);
        var upload = new MultipartFormDataContent { { new ByteArrayContent("Date,Country,Value\n2021-01-01,ARG,2\n"u8.ToArray()), "data", "x.csv" } };
        await ApiClient.ExpectProblemAsync(await admin.Http.SendAsync(Request(HttpMethod.Put, $"/datasets/{datasetId}/data", upload, origin: Evil)),
            HttpStatusCode.Forbidden);
        await ApiClient.ExpectProblemAsync(await admin.Http.SendAsync(Request(HttpMethod.Patch, "/Dataset/anything/data",
            new StringContent("""{"blockNumber":0,"records":[]}""", Encoding.UTF8, "text/plain"), fetchSite: "cross-site")), HttpStatusCode.Forbidden);
        Assert.Equal("Country,Date,Value\nUSA,2020-01-01,1\n", await admin.DownloadAsync(datasetId));

        // The upload-url GET creates an import, so it is guarded like a POST; plain reads are not.
        await ApiClient.ExpectProblemAsync(await admin.Http.SendAsync(Request(HttpMethod.Get, $"/datasets/{datasetId}/upload-url/a.csv", fetchSite: "cross-site")),
            HttpStatusCode.Forbidden);
        Assert.DoesNotContain((await admin.GetJsonAsync($"/datasets/{datasetId}/processes")).EnumerateArray(), p => p.GetProperty("status").GetString() != "Processed");
        Assert.Equal(HttpStatusCode.OK, (await admin.Http.SendAsync(Request(HttpMethod.Get, $"/datasets/{datasetId}", fetchSite: "cross-site"))).StatusCode);
    }

    [Fact]
    public async Task Api_clients_our_own_pages_and_typed_urls_still_change_state()
    {
        var admin = platform.Client();
        // Python requests / the Alphacast SDK: form body, Basic auth, no Origin, no Sec-Fetch-Site.
        await admin.CreateRepositoryAsync();
        // The service's own page (same origin), and a request the user made directly (Sec-Fetch-Site: none).
        var own = admin.Http.BaseAddress!.GetLeftPart(UriPartial.Authority);
        var sameOrigin = await admin.Http.SendAsync(Request(HttpMethod.Post, "/repositories", ApiClient.Form(("name", "same origin")), own, "same-origin"));
        await ApiClient.ExpectJsonAsync(sameOrigin, HttpStatusCode.Created);
        var typed = await admin.Http.SendAsync(Request(HttpMethod.Post, "/repositories", ApiClient.Form(("name", "typed")), fetchSite: "none"));
        await ApiClient.ExpectJsonAsync(typed, HttpStatusCode.Created);
    }

    [Fact]
    public async Task The_presigned_put_is_open_to_browser_apps_on_any_origin_without_credentials()
    {
        var admin = platform.Client();
        var datasetId = await admin.NewDatasetAsync();
        var url = (await ApiClient.ExpectJsonAsync(await admin.Http.GetAsync($"/datasets/{datasetId}/upload-url/tasks.jsonl"), HttpStatusCode.Created))
            .GetProperty("upload_url").GetString()!;
        var path = new Uri(url).PathAndQuery;

        // The browser's CORS preflight for a PUT with a Content-Type.
        var preflight = Request(HttpMethod.Options, path, origin: Evil);
        preflight.Headers.Add("Access-Control-Request-Method", "PUT");
        preflight.Headers.Add("Access-Control-Request-Headers", "content-type");
        var answer = await platform.RawClient().SendAsync(preflight);
        Assert.True(answer.IsSuccessStatusCode, $"preflight answered {(int)answer.StatusCode}");
        Assert.Equal("*", answer.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Contains("PUT", answer.Headers.GetValues("Access-Control-Allow-Methods").Single());

        var put = Request(HttpMethod.Put, path, new StringContent("{\"prompt\":\"a\"}\n", Encoding.UTF8, "application/x-ndjson"), Evil, "cross-site");
        var stored = await platform.RawClient().SendAsync(put);
        Assert.Equal(HttpStatusCode.OK, stored.StatusCode);
        Assert.Equal("*", stored.Headers.GetValues("Access-Control-Allow-Origin").Single());
        // Other routes grant CORS to no one.
        var other = Request(HttpMethod.Options, "/repositories", origin: Evil);
        other.Headers.Add("Access-Control-Request-Method", "POST");
        Assert.False((await platform.RawClient().SendAsync(other)).Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task Only_the_dashboard_asks_browsers_for_basic_credentials_and_it_cannot_be_framed()
    {
        var api = await platform.RawClient().GetAsync("/datasets");
        Assert.Equal(HttpStatusCode.Unauthorized, api.StatusCode);
        Assert.DoesNotContain(api.Headers.WwwAuthenticate, h => h.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(api.Headers.WwwAuthenticate, h => h.Scheme == "Bearer");

        var dashboard = await platform.RawClient().GetAsync("/dashboard/");
        Assert.Equal(HttpStatusCode.Unauthorized, dashboard.StatusCode);
        Assert.Contains(dashboard.Headers.WwwAuthenticate, h => h.Scheme == "Basic");

        var admin = platform.Client();
        var page = await admin.Http.GetAsync("/dashboard/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("DENY", page.Headers.GetValues("X-Frame-Options").Single());

        // Logged into the dashboard, the browser's key still cannot be used by another site to change anything.
        var browser = platform.RawClient();
        browser.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(platform.AdminKey + ":")));
        await ApiClient.ExpectProblemAsync(await browser.SendAsync(Request(HttpMethod.Post, "/keys", ApiClient.Form(("name", "x")), Evil, "cross-site")),
            HttpStatusCode.Forbidden);
    }
}
