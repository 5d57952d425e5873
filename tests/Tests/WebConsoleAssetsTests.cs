using System.Net;
using System.Text.RegularExpressions;
using DatasetPlatform.Api.WebConsole;
using DatasetPlatform.Tests.Infrastructure;

namespace DatasetPlatform.Tests;

/// <summary>The console's files: anonymous, under a strict Content-Security-Policy, no inline script; the API behind them still needs a key.</summary>
[Collection(nameof(PlatformCollection))]
public sealed partial class WebConsoleAssetsTests(PlatformFixture platform)
{
    [Fact]
    public async Task The_console_is_served_anonymously_under_a_strict_policy_while_its_data_calls_need_a_key()
    {
        var http = platform.NoRedirectClient();
        var redirect = await http.GetAsync("/console");
        Assert.Equal(HttpStatusCode.Redirect, redirect.StatusCode);
        Assert.Equal("/console/", redirect.Headers.Location?.OriginalString);

        var page = await http.GetAsync("/console/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var policy = page.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Equal(WebConsoleApi.ContentSecurityPolicy, policy);
        Assert.Contains("script-src 'self';", policy);
        Assert.DoesNotContain("unsafe-inline", policy);
        Assert.DoesNotContain("http", policy);
        var html = await page.Content.ReadAsStringAsync();
        // Every script is a file of our own (the policy would block an inline one anyway); no attribute handlers.
        var scripts = ScriptTag().Matches(html);
        Assert.NotEmpty(scripts);
        Assert.All(scripts, s => Assert.Matches("src=\"[a-z-]+\\.js\"", s.Value));
        Assert.DoesNotMatch(" on[a-z]+=", html);

        foreach (var module in (string[])["app.js", "api.js", "dom.js", "charts.js"])
        {
            var script = await http.GetAsync("/console/" + module);
            Assert.Equal(HttpStatusCode.OK, script.StatusCode);
            Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
            var text = await script.Content.ReadAsStringAsync();
            Assert.DoesNotContain("innerHTML", text);
            // Nothing fetched from elsewhere: the only absolute URL is the SVG namespace, a name rather than a resource.
            Assert.DoesNotMatch("https?://", text.Replace("'http://www.w3.org/2000/svg'", ""));
        }
        var css = await http.GetAsync("/console/console.css");
        Assert.Equal("text/css", css.Content.Headers.ContentType?.MediaType);

        // Revalidation: the same ETag is a 304.
        var again = new HttpRequestMessage(HttpMethod.Get, "/console/app.js");
        again.Headers.IfNoneMatch.Add(new System.Net.Http.Headers.EntityTagHeaderValue(
            (await http.GetAsync("/console/app.js")).Headers.ETag!.Tag));
        Assert.Equal(HttpStatusCode.NotModified, (await http.SendAsync(again)).StatusCode);

        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/console/missing.js")).StatusCode);
        // The files are anonymous; the data is not.
        await ApiClient.ExpectProblemAsync(await http.GetAsync("/repositories"), HttpStatusCode.Unauthorized);
    }

    [GeneratedRegex("<script[^>]*>")]
    private static partial Regex ScriptTag();
}
