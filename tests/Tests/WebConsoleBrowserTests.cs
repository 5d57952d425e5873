using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using DatasetPlatform.Tests.Infrastructure;
using OpenQA.Selenium;
using Xunit.Abstractions;

namespace DatasetPlatform.Tests;

/// <summary>
/// The web console at /console in a real headless Chromium against the real service: what a user sees after each step,
/// checked against what the API itself answers. Screenshots of each step go to <see cref="HeadlessChromium.ScreenshotDirectory"/>.
/// </summary>
[Trait("Category", "Browser")]
public sealed class WebConsoleBrowserTests(WebConsoleService service, ITestOutputHelper output) : IClassFixture<WebConsoleService>
{
    [Fact]
    public async Task Sign_in_shows_the_APIs_problem_for_a_wrong_key_and_lists_repositories_for_a_good_one()
    {
        var repositoryId = await service.Client().CreateRepositoryAsync();
        var repository = await service.Client().GetJsonAsync($"/repositories/{repositoryId}");
        var name = repository.GetProperty("name").GetString()!;
        // What the API says to that key, as the console sends it (Bearer).
        var refusal = await ApiClient.ExpectJsonAsync(await service.Http("not-a-key").GetAsync("/repositories"), HttpStatusCode.Unauthorized);

        await InBrowserAsync("sign-in", browser =>
        {
            browser.Driver.Navigate().GoToUrl(service.BaseUrl + "/console");
            SignIn(browser, "not-a-key");
            var error = browser.Visible(By.Id("signin-error"), "the sign-in error");
            Assert.Equal(refusal.GetProperty("title").GetString(), error.FindElement(By.ClassName("problem-title")).Text);
            Assert.Equal(refusal.GetProperty("detail").GetString(), error.FindElement(By.ClassName("problem-detail")).Text);
            Assert.Null(browser.Driver.ExecuteScript("return sessionStorage.getItem('dp.apiKey')"));
            browser.Screenshot("sign-in-1-wrong-key");

            SignIn(browser, service.AdminKey);
            browser.WaitFor(d => d.FindElement(By.Id("repositories-table")).Text.Contains(name), "the repository in the list");
            browser.Driver.FindElement(By.Id("repositories-search")).SendKeys(name);
            browser.WaitFor(d => d.FindElements(By.CssSelector("#repositories-table tbody tr")).Count == 1, "the search to leave one repository");
            Assert.Equal(name, browser.Driver.FindElement(By.CssSelector("#repositories-table tbody tr td a")).Text);
            browser.Screenshot("sign-in-2-repositories");
        });
    }

    [Fact]
    public async Task A_CSV_uploaded_through_the_form_is_imported_previewed_charted_and_compared_with_its_next_version()
    {
        var repositoryName = "console " + Guid.NewGuid().ToString("N")[..8];
        var datasetName = "gdp " + Guid.NewGuid().ToString("N")[..8];
        string[] countries = ["ARG", "USA", "BRA"];
        var firstRows = Enumerable.Range(0, 12).Select(i => (Date: new DateOnly(2020, 1, 1).AddMonths(i / 3), Country: countries[i % 3], Gdp: 100 + i * 7.5)).ToList();
        var first = service.WriteFile("gdp.csv", Csv(firstRows));
        // The next version: every value much higher (a high PSI) and three more rows.
        var secondRows = firstRows.Select(r => r with { Gdp = r.Gdp * 3 }).Concat(countries.Select(c => (Date: new DateOnly(2021, 1, 1), Country: c, Gdp: 999.0))).ToList();
        var second = service.WriteFile("gdp-2.csv", Csv(secondRows));
        var broken = service.WriteFile("gdp-broken.csv", "Date,Country,GDP\n2020-01-01,USA,1\n2020-13-45,ARG,2\n");

        await InBrowserAsync("upload", browser =>
        {
            var driver = browser.Driver;
            driver.Navigate().GoToUrl(service.BaseUrl + "/console/");
            SignIn(browser, service.AdminKey);

            // A repository, then a dataset in it, through the console's forms.
            browser.Visible(By.Id("repository-name"), "the new repository form").SendKeys(repositoryName);
            driver.FindElement(By.CssSelector("#create-repository button[type=submit]")).Click();
            browser.Visible(By.Id("dataset-name"), "the repository page").SendKeys(datasetName);
            driver.FindElement(By.CssSelector("#create-dataset button[type=submit]")).Click();
            browser.WaitFor(d => d.FindElement(By.TagName("h1")).Text == datasetName, "the dataset page");
            var datasetId = long.Parse(driver.Url.Split('/').Last(), CultureInfo.InvariantCulture);

            // A file the import refuses: the job ends in Error, its reason names the row, and nothing is loaded.
            Upload(browser, broken, manifest: true);
            var refused = WaitForImport(browser, "Error");
            Assert.Contains("row", refused, StringComparison.OrdinalIgnoreCase);
            browser.Screenshot("upload-1-refused-file");

            Upload(browser, first, manifest: true);
            Assert.Contains("Processed", WaitForImport(browser, "Processed"));
            Assert.Equal("100", driver.FindElement(By.Id("upload-progress")).GetDomProperty("value"));
            browser.WaitFor(d => d.FindElements(By.CssSelector("#imports-table tbody tr")).Count == 2, "both imports in the list");

            // The preview shows the rows, the analysis draws a 10-bin histogram and the top values.
            var previewRows = browser.WaitUntil(d => d.FindElements(By.CssSelector("#preview-table tbody tr")) is { Count: > 0 } rows ? rows : null, "the preview")!;
            Assert.Equal(firstRows.Count, previewRows.Count);
            var previewText = driver.FindElement(By.Id("preview-table")).Text;
            Assert.All(countries, c => Assert.Contains(c, previewText));
            var histogram = browser.Visible(By.CssSelector("figure[data-chart=histogram][data-column=GDP]"), "the GDP histogram");
            var bars = histogram.FindElements(By.CssSelector("rect.bar"));
            Assert.Equal(10, bars.Count);
            Assert.Equal(firstRows.Count, bars.Sum(b => int.Parse(b.GetAttribute("data-count")!, CultureInfo.InvariantCulture)));
            var topValues = driver.FindElement(By.CssSelector("figure[data-chart=top-values][data-column=Country]"));
            Assert.Equal(countries.Length, topValues.FindElements(By.CssSelector("rect.bar")).Count);
            ScrollTo(browser, histogram);
            browser.Screenshot("upload-2-processed-preview-and-charts");

            // The next version, updating rows by key; then the drift between version 0 and 1.
            Upload(browser, second, manifest: false, updateExisting: true);
            WaitForImport(browser, "Processed");
            browser.WaitFor(d => d.FindElements(By.CssSelector("#versions-table tbody tr")).Count == 2, "two versions");
            browser.Visible(By.Id("drift-compare"), "the drift form").Click();
            var drift = browser.Visible(By.Id("drift-table"), "the drift table");
            var compare = Task.Run(() => service.Client().GetJsonAsync($"/api/datasets/{datasetId}/compare?v1=0&v2=1")).GetAwaiter().GetResult();
            var gdpRow = drift.FindElements(By.CssSelector("tbody tr")).Single(r => r.FindElement(By.TagName("td")).Text == "GDP");
            Assert.Equal(compare.GetProperty("column_diffs").GetProperty("GDP").GetProperty("shift_level").GetString(), gdpRow.FindElements(By.TagName("td"))[3].Text);
            var summary = driver.FindElement(By.Id("drift-summary")).Text;
            Assert.Contains(secondRows.Count.ToString(CultureInfo.InvariantCulture), summary);
            ScrollTo(browser, drift);
            browser.Screenshot("upload-3-drift");
        });
    }

    [Fact]
    public async Task Search_finds_a_dataset_beyond_the_first_page_and_opens_it()
    {
        // More datasets than a page holds; the one searched for is created last, so it is on no first page (lists go by id).
        var api = service.Client();
        var repositoryId = await api.CreateRepositoryAsync();
        var unique = Guid.NewGuid().ToString("N")[..8];
        for (var i = 0; i <= WebConsoleService.PageSize; i++) await api.CreateDatasetAsync(repositoryId, $"filler {unique} {i}");
        var needle = $"needle {unique}";
        var needleId = await api.CreateDatasetAsync(repositoryId, needle);
        var firstPage = await api.GetJsonAsync("/datasets");
        Assert.DoesNotContain(firstPage.EnumerateArray(), d => d.GetProperty("id").GetInt64() == needleId);

        await InBrowserAsync("search", browser =>
        {
            var driver = browser.Driver;
            driver.Navigate().GoToUrl(service.BaseUrl + "/console");
            SignIn(browser, service.AdminKey);
            browser.Visible(By.Id("repositories-table"), "the repositories");
            driver.Navigate().GoToUrl(service.BaseUrl + "/console/#/datasets");
            browser.WaitFor(d => d.FindElements(By.CssSelector("#datasets-table tbody tr")).Count == WebConsoleService.PageSize, "the first page of datasets");
            Assert.DoesNotContain(needle, driver.FindElement(By.Id("datasets-table")).Text);
            Assert.Contains($"(the first {WebConsoleService.PageSize} shown)", driver.FindElement(By.Id("datasets-count")).Text);

            driver.FindElement(By.Id("datasets-search")).SendKeys(needle);
            browser.WaitFor(d => d.FindElement(By.Id("datasets-count")).Text == "1 of 1", "the search to find the one dataset");
            var link = driver.FindElement(By.CssSelector("#datasets-table tbody tr td a"));
            Assert.Equal(needle, link.Text);
            browser.Screenshot("search-1-beyond-the-first-page");
            link.Click();
            browser.WaitFor(d => d.FindElement(By.TagName("h1")).Text == needle, "the dataset's page");
            Assert.EndsWith($"#/datasets/{needleId}", driver.Url);

            // The same in the repository's own list, and a search that matches nothing says so.
            driver.Navigate().GoToUrl(service.BaseUrl + $"/console/#/repositories/{repositoryId}");
            browser.WaitFor(d => d.FindElements(By.CssSelector("#datasets-table tbody tr")).Count == WebConsoleService.PageSize, "the repository's first page");
            driver.FindElement(By.Id("datasets-search")).SendKeys(needle);
            browser.WaitFor(d => d.FindElement(By.Id("datasets-count")).Text == "1 of 1", "the search in the repository");
            driver.FindElement(By.Id("datasets-search")).SendKeys(" nothing like it");
            browser.Visible(By.Id("datasets-empty"), "no match");
        });
    }

    private static string Csv(IEnumerable<(DateOnly Date, string Country, double Gdp)> rows)
    {
        var csv = new StringBuilder("Date,Country,GDP\n");
        foreach (var (date, country, gdp) in rows) csv.Append(CultureInfo.InvariantCulture, $"{date:yyyy-MM-dd},{country},{gdp}\n");
        return csv.ToString();
    }

    private static void SignIn(HeadlessChromium browser, string key)
    {
        var input = browser.Visible(By.Id("api-key"), "the sign-in form");
        input.Clear();
        input.SendKeys(key);
        browser.Driver.FindElement(By.Id("sign-in")).Click();
    }

    private static void Upload(HeadlessChromium browser, string path, bool manifest, bool updateExisting = false)
    {
        var driver = browser.Driver;
        var status = driver.FindElement(By.Id("upload-status"));
        var date = driver.FindElement(By.Id("upload-date-column"));
        var entities = driver.FindElement(By.Id("upload-entities"));
        date.Clear();
        entities.Clear();
        if (manifest)
        {
            date.SendKeys("Date");
            entities.SendKeys("Country");
        }
        var update = driver.FindElement(By.Id("upload-update"));
        if (update.Selected != updateExisting) update.Click();
        browser.Visible(By.Id("upload-file"), "the upload form").SendKeys(path);
        driver.FindElement(By.Id("upload-submit")).Click();
        // The form is busy until the import ends; the status names the new import once the file is in.
        browser.WaitFor(d => status.Text.Contains(Path.GetFileName(path)) || status.Text.Contains("Import "), "the upload to start");
    }

    /// <summary>Waits until the followed import shows <paramref name="status"/> and the form is ready again; returns the status line.</summary>
    private static string WaitForImport(HeadlessChromium browser, string status) =>
        browser.WaitUntil(d => d.FindElement(By.Id("import-status")).Text == status && d.FindElement(By.Id("upload-submit")).Enabled
            ? d.FindElement(By.Id("upload-status")).Text : null, $"the import to show {status}")!;

    private static void ScrollTo(HeadlessChromium browser, IWebElement element) =>
        browser.Driver.ExecuteScript("arguments[0].scrollIntoView({block: 'start'})", element);

    /// <summary>Runs the steps in a fresh browser; on failure saves a screenshot and the page's text next to the others.</summary>
    private async Task InBrowserAsync(string name, Action<HeadlessChromium> steps)
    {
        using var browser = new HeadlessChromium(output.WriteLine);
        try
        {
            await Task.Run(() => steps(browser));
        }
        catch
        {
            try
            {
                browser.Screenshot(name + "-failure");
                output.WriteLine("page text at failure:\n" + browser.Driver.FindElement(By.TagName("body")).Text);
                output.WriteLine("service output:\n" + service.Output);
            }
            catch (WebDriverException) { }
            throw;
        }
    }
}
