using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using DatasetPlatform.Tests.Infrastructure;

namespace DatasetPlatform.Tests;

/// <summary>
/// Every list pages with ?limit&amp;offset and says what is left in X-Total-Count and Link rel="next", keeping its body's
/// shape (bare arrays for Alphacast and V4, {items, total, limit, offset} for seed 004). Following the links from the
/// first page to the last yields every item exactly once; bad paging parameters are a 400 naming the parameter.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed partial class ListPagingTests(PlatformFixture platform) : IAsyncLifetime
{
    // Built once for the class (tests of a collection run one at a time): a key with three repositories, five datasets in
    // the first, and three uploads (three processes/imports, three versions) into the first dataset.
    private static Task<Lists>? _shared;
    private Lists _lists = null!;

    private sealed record Lists(ApiClient Owner, List<long> Repositories, List<long> Datasets)
    {
        public long RepositoryId => Repositories[0];
        public long Uploaded => Datasets[0];
    }

    public async Task InitializeAsync() => _lists = await (_shared ??= CreateListsAsync(platform));

    public Task DisposeAsync() => Task.CompletedTask;

    private static async Task<Lists> CreateListsAsync(PlatformFixture platform)
    {
        var admin = platform.Client();
        var created = await ApiClient.ExpectJsonAsync(await admin.Http.PostAsync("/keys", ApiClient.Form(("name", "pager"))), HttpStatusCode.Created);
        var owner = platform.Client(created.GetProperty("key").GetString()!);
        var lists = new Lists(owner, [], []);
        for (var i = 0; i < 3; i++) lists.Repositories.Add(await owner.CreateRepositoryAsync());
        for (var i = 0; i < 5; i++) lists.Datasets.Add(await owner.CreateDatasetAsync(lists.RepositoryId));
        for (var year = 2020; year < 2023; year++)
            await owner.UploadAndWaitAsync(lists.Uploaded, $"Date,Country,Value\n{year}-01-01,USA,{year}\n", ApiClient.DateCountryManifest);
        return lists;
    }

    private ApiClient Owner => _lists.Owner;
    private long RepositoryId => _lists.RepositoryId;
    private long Uploaded => _lists.Uploaded;

    private static IEnumerable<JsonElement> Array(JsonElement body) => body.EnumerateArray();
    private static IEnumerable<JsonElement> Items(JsonElement body) => body.GetProperty("items").EnumerateArray();

    [Fact]
    public async Task Repositories_page_to_the_end_exactly_once()
    {
        var all = await WalkAsync($"/repositories?limit=2", Array, r => r.GetProperty("id").GetInt64().ToString());
        // Public repositories of other tests are visible to this key too; its own three are there once each.
        Assert.All(_lists.Repositories, id => Assert.Contains(id.ToString(), all));
        await DefaultPageHoldsEverythingAsync("/repositories", Array, all.Count);
    }

    [Fact]
    public async Task Datasets_page_to_the_end_exactly_once()
    {
        var all = await WalkAsync($"/datasets?repositoryId={RepositoryId}&limit=2", Array, d => d.GetProperty("id").GetInt64().ToString());
        Assert.Equal(_lists.Datasets.Select(d => d.ToString()), all);
        await DefaultPageHoldsEverythingAsync($"/datasets?repositoryId={RepositoryId}", Array, 5);
    }

    [Fact]
    public async Task Processes_and_v4_imports_page_to_the_end_exactly_once()
    {
        var processes = await WalkAsync($"/datasets/{Uploaded}/processes?limit=2", Array, p => p.GetProperty("id").GetInt64().ToString());
        Assert.Equal(3, processes.Count);
        var imports = await WalkAsync($"/datasets/{Uploaded}/imports?limit=1", Array, i => i.GetProperty("import_id").GetString()!);
        Assert.Equal(processes, imports);
        await DefaultPageHoldsEverythingAsync($"/datasets/{Uploaded}/processes", Array, 3);
        await DefaultPageHoldsEverythingAsync($"/api/v1/data-collection/datasets/{Uploaded}/imports", Array, 3);
    }

    [Fact]
    public async Task Alphacast_lists_search_names_and_descriptions_across_pages_and_keep_their_bare_arrays()
    {
        // A key of its own: the class's shared lists keep their counts.
        var owner = platform.Client(await NewKeyAsync("searcher"));
        var home = await owner.CreateRepositoryAsync();
        var other = await owner.CreateRepositoryAsync();
        var unique = Guid.NewGuid().ToString("N")[..8];
        var repositoryId = await ApiClient.ExpectJsonAsync(await owner.Http.PostAsync("/repositories",
            ApiClient.Form(("name", $"Search {unique}"), ("description", "found by its description"))), HttpStatusCode.Created);
        var matching = new List<long>();
        for (var i = 0; i < 3; i++) matching.Add(await owner.CreateDatasetAsync(home, $"GDP_{unique} 100% {i}"));
        await owner.CreateDatasetAsync(home, $"GDPx{unique} 100 other"); // `_` and `%` are characters, not wildcards

        // A page of one at a time: every match once, the rest of the list left out, X-Total-Count the number of matches.
        var found = new List<long>();
        for (var offset = 0; offset < 3; offset++)
        {
            var page = await owner.Http.GetAsync($"/datasets?search={Uri.EscapeDataString($"gdp_{unique} 100%")}&limit=1&offset={offset}");
            Assert.Equal("3", page.Headers.GetValues("X-Total-Count").Single());
            var items = await ApiClient.ExpectJsonAsync(page, HttpStatusCode.OK);
            Assert.Equal(JsonValueKind.Array, items.ValueKind);
            found.Add(Assert.Single(items.EnumerateArray()).GetProperty("id").GetInt64());
        }
        Assert.Equal(matching, found);
        // Within one repository only; a search that matches nothing is an empty array.
        var elsewhere = await owner.Http.GetAsync($"/datasets?search={unique}&repositoryId={other}");
        Assert.Equal("0", elsewhere.Headers.GetValues("X-Total-Count").Single());
        Assert.Empty((await ApiClient.ExpectJsonAsync(elsewhere, HttpStatusCode.OK)).EnumerateArray());

        var repositories = await owner.Http.GetAsync("/repositories?search=FOUND BY ITS DESCRIPTION");
        Assert.Equal("1", repositories.Headers.GetValues("X-Total-Count").Single());
        Assert.Equal(repositoryId.GetProperty("id").GetInt64(),
            Assert.Single((await ApiClient.ExpectJsonAsync(repositories, HttpStatusCode.OK)).EnumerateArray()).GetProperty("id").GetInt64());
        // Another key does not find what it cannot see.
        var stranger = platform.Client(await NewKeyAsync("stranger"));
        Assert.Equal("0", (await stranger.Http.GetAsync($"/datasets?search={unique}")).Headers.GetValues("X-Total-Count").Single());
    }

    private async Task<string> NewKeyAsync(string name) =>
        (await ApiClient.ExpectJsonAsync(await platform.Client().Http.PostAsync("/keys", ApiClient.Form(("name", name))), HttpStatusCode.Created))
        .GetProperty("key").GetString()!;

    [Fact]
    public async Task Keys_page_to_the_end_exactly_once()
    {
        var admin = platform.Client();
        var mine = new List<string>();
        for (var i = 0; i < 3; i++)
            mine.Add((await ApiClient.ExpectJsonAsync(await admin.Http.PostAsync("/keys", ApiClient.Form(("name", $"paged {i}"))), HttpStatusCode.Created))
                .GetProperty("id").GetString()!);
        var all = await WalkAsync("/keys?limit=2", Array, k => k.GetProperty("id").GetString()!, admin);
        Assert.Contains(platform.AdminKey.Split('_')[1], all);
        Assert.All(mine, id => Assert.Contains(id, all));
    }

    [Fact]
    public async Task Versioned_dataset_lists_keep_their_shape_and_page_with_headers()
    {
        var datasets = await WalkAsync($"/api/datasets?project_id={RepositoryId}&limit=2&sort_direction=asc", Items, d => d.GetProperty("id").GetString()!);
        Assert.Equal(5, datasets.Count);
        var versions = await WalkAsync($"/api/datasets/{Uploaded}/versions?limit=2", Items, v => v.GetProperty("version").GetInt32().ToString());
        Assert.Equal(["0", "1", "2"], versions);
        // The seed's default page (50) holds them all; its body says the same as the headers.
        var page = await Owner.Http.GetAsync($"/api/datasets/{Uploaded}/versions");
        var body = await ApiClient.ExpectJsonAsync(page, HttpStatusCode.OK);
        Assert.Equal(3, body.GetProperty("total").GetInt64());
        Assert.Equal(50, body.GetProperty("limit").GetInt32());
        Assert.Equal("3", page.Headers.GetValues("X-Total-Count").Single());
        Assert.False(page.Headers.Contains("Link"));
    }

    [Fact]
    public async Task Lineage_pages_each_of_its_lists()
    {
        var versions = await ApiClient.ExpectJsonAsync(await Owner.Http.GetAsync($"/api/datasets/{Uploaded}/versions"), HttpStatusCode.OK);
        var v0 = versions.GetProperty("items")[0].GetProperty("id").GetString();
        for (var i = 0; i < 5; i++)
            await ApiClient.ExpectJsonAsync(await Owner.Http.PostAsJsonAsync("/api/experiments", new { dataset_version_id = v0, name = $"run {i}" }), HttpStatusCode.Created);

        var experiments = new List<string>();
        var upstream = new List<int>();
        var path = $"/api/datasets/{Uploaded}/lineage?limit=2";
        var pages = 0;
        for (string? next = path; next is not null; pages++)
        {
            var response = await Owner.Http.GetAsync(next);
            var body = await ApiClient.ExpectJsonAsync(response, HttpStatusCode.OK);
            Assert.Equal("5", response.Headers.GetValues("X-Total-Count").Single());
            experiments.AddRange(body.GetProperty("experiments").EnumerateArray().Select(e => e.GetProperty("name").GetString()!));
            upstream.AddRange(body.GetProperty("upstream").EnumerateArray().Select(u => u.GetProperty("version").GetInt32()));
            next = NextLink(response);
        }
        Assert.Equal(3, pages);
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"run {i}"), experiments);
        Assert.Equal([0, 1, 2], upstream);
    }

    [Theory]
    [InlineData("/repositories")]
    [InlineData("/datasets")]
    [InlineData("/keys")]
    [InlineData("/datasets/{dataset}/processes")]
    [InlineData("/datasets/{dataset}/imports")]
    [InlineData("/api/datasets")]
    [InlineData("/api/datasets/{dataset}/versions")]
    [InlineData("/api/datasets/{dataset}/lineage")]
    public async Task Bad_paging_parameters_are_a_400_naming_the_parameter(string route)
    {
        var path = route.Replace("{dataset}", Uploaded.ToString());
        var client = route == "/keys" ? platform.Client() : Owner;
        foreach (var (query, parameter) in new[]
                 {
                     ("limit=0", "limit"), ("limit=abc", "limit"), ("limit=1000000", "limit"), ("limit=-1", "limit"), ("limit=1&limit=2", "limit"),
                     ("offset=-1", "offset"), ("offset=1.5", "offset"), ("offset=99999999999", "offset"),
                 })
        {
            var response = await client.Http.GetAsync($"{path}?{query}");
            var detail = await ApiClient.ExpectProblemAsync(response, HttpStatusCode.BadRequest);
            Assert.StartsWith(parameter + ":", detail);
            var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            Assert.True(problem.GetProperty("errors").TryGetProperty(parameter, out _), $"{path}?{query}: no errors.{parameter}");
        }
    }

    /// <summary>Follows Link rel="next" from <paramref name="first"/> to the end; asserts X-Total-Count on every page and that no item repeats.</summary>
    private async Task<List<string>> WalkAsync(string first, Func<JsonElement, IEnumerable<JsonElement>> items, Func<JsonElement, string> key, ApiClient? client = null)
    {
        client ??= Owner;
        var seen = new List<string>();
        long? total = null;
        var limit = int.Parse(Regex.Match(first, "limit=([0-9]+)").Groups[1].Value);
        for (string? next = first; next is not null;)
        {
            var response = await client.Http.GetAsync(next);
            var body = await ApiClient.ExpectJsonAsync(response, HttpStatusCode.OK);
            var pageTotal = long.Parse(response.Headers.GetValues("X-Total-Count").Single());
            total ??= pageTotal;
            Assert.Equal(total, pageTotal);
            var page = items(body).Select(key).ToList();
            Assert.InRange(page.Count, 1, limit);
            seen.AddRange(page);
            next = NextLink(response);
            if (next is null) Assert.Equal(total, seen.Count);
            else Assert.Equal(limit, page.Count);
        }
        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.True(seen.Count > limit, $"{first}: only {seen.Count} items, so paging was not exercised");
        return seen;
    }

    /// <summary>Without ?limit the default page (1000 here) applies: everything, with the total and no next link.</summary>
    private async Task DefaultPageHoldsEverythingAsync(string path, Func<JsonElement, IEnumerable<JsonElement>> items, int expected)
    {
        var response = await Owner.Http.GetAsync(path);
        var body = await ApiClient.ExpectJsonAsync(response, HttpStatusCode.OK);
        Assert.Equal(expected, items(body).Count());
        Assert.Equal(expected.ToString(), response.Headers.GetValues("X-Total-Count").Single());
        Assert.False(response.Headers.Contains("Link"));
    }

    private static string? NextLink(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues("Link", out var values)) return null;
        var match = LinkNext().Match(string.Join(",", values));
        Assert.True(match.Success, $"unreadable Link header: {string.Join(",", values)}");
        return new Uri(match.Groups[1].Value).PathAndQuery;
    }

    [GeneratedRegex("<([^>]+)>;\\s*rel=\"next\"")]
    private static partial Regex LinkNext();
}
