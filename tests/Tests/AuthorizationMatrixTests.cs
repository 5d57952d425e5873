using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using DatasetPlatform.Tests.Infrastructure;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace DatasetPlatform.Tests;

/// <summary>
/// Every mapped route (read from the app's own endpoint list, so a new route cannot be forgotten) against every kind of
/// caller: no key, a bad key, a revoked key (and an access token of one), Read, Write (as key and as access token) and
/// Admin on the repository, a key with a repository of its own but no role here, any key on a public repository, and a
/// global admin. Expected: 401 without a valid credential; 404 where the caller cannot see the thing (ids of private
/// datasets do not leak); 403 where it can see it but lacks the role; 2xx otherwise.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class AuthorizationMatrixTests(PlatformFixture platform) : IAsyncLifetime
{
    /// <summary>What a route asks of its caller.</summary>
    private enum Need { Anonymous, AnyKey, Read, Write, Admin, GlobalAdmin }

    private enum Caller { NoKey, BadKey, RevokedKey, RevokedKeysToken, Read, Write, WriteToken, Admin, OtherRepository, PublicRepository, GlobalAdmin }

    /// <summary>The things one repository holds that routes address: its datasets of each kind and their children.</summary>
    private sealed record Target(long RepositoryId, long DatasetId, string BlockName, string VersionedUid, string VersionedName, string VersionId,
        long ProcessId, string ExperimentId, string ModelId);

    /// <summary>A route of the matrix: its method and pattern as mapped, what it needs, and how to build a request against a target.</summary>
    private sealed record Route(string Method, string Pattern, Need Need, Func<Fixture, Target, Task<HttpRequestMessage>> Build, bool Destructive = false);

    private sealed class Fixture
    {
        public required Dictionary<Caller, string?> Credentials { get; init; }
        public required Target Private { get; init; }
        public required Target Public { get; init; }
        public required ApiClient Owner { get; init; }
        public required string GrantableKeyId { get; init; }
        public required string WriteKeyId { get; init; }
        public required string WriteKey { get; init; }
    }

    private static Task<Fixture>? _shared;
    private Fixture _fixture = null!;

    public async Task InitializeAsync() => _fixture = await (_shared ??= CreateFixtureAsync(platform));

    public Task DisposeAsync() => Task.CompletedTask;

    private const string Csv = "Date,Country,Value\n2020-01-01,USA,1\n";

    private static readonly Route[] Routes =
    [
        // Operations.
        new("GET", "/health/live", Need.Anonymous, (_, _) => Get("/health/live")),
        new("GET", "/health/ready", Need.Anonymous, (_, _) => Get("/health/ready")),
        new("GET", "/openapi/{documentName}.json", Need.Anonymous, (_, _) => Get("/openapi/v1.json")),
        new("GET", "/reference/{documentName?}", Need.Anonymous, (_, _) => Get("/reference/")),
        new("GET", "/reference/scalar.js", Need.Anonymous, (_, _) => Get("/reference/scalar.js")),
        new("GET", "/reference/scalar.aspnetcore.js", Need.Anonymous, (_, _) => Get("/reference/scalar.aspnetcore.js")),
        new("GET", "/reference/favicon.svg", Need.Anonymous, (_, _) => Get("/reference/favicon.svg")),
        // The web console's files; every data call the page makes goes through the routes below with the user's key.
        new("GET", "/console/{*file}", Need.Anonymous, (_, _) => Get("/console/app.js")),
        new("*", "/metrics", Need.GlobalAdmin, (_, _) => Get("/metrics")), // mapped for every method
        // Keys: global admins only.
        new("POST", "/keys", Need.GlobalAdmin, (_, _) => Send(HttpMethod.Post, "/keys", ApiClient.Form(("name", "matrix")))),
        new("GET", "/keys", Need.GlobalAdmin, (_, _) => Get("/keys?limit=5")),
        new("DELETE", "/keys/{keyId}", Need.GlobalAdmin, async (f, _) => Request(HttpMethod.Delete, $"/keys/{await FreshKeyIdAsync(f)}"), Destructive: true),
        new("POST", "/connect/token", Need.Anonymous, (f, _) => Send(HttpMethod.Post, "/connect/token",
            ApiClient.Form(("grant_type", "client_credentials"), ("client_id", f.WriteKeyId), ("client_secret", f.WriteKey)))),
        // Repositories.
        new("POST", "/repositories", Need.AnyKey, (_, _) => Send(HttpMethod.Post, "/repositories", ApiClient.Form(("name", Unique("repo"))))),
        new("GET", "/repositories", Need.AnyKey, (_, _) => Get("/repositories?limit=5")),
        new("GET", "/repositories/{id:long}", Need.Read, (_, t) => Get($"/repositories/{t.RepositoryId}")),
        new("DELETE", "/repositories/{id:long}", Need.Admin, (_, t) => Send(HttpMethod.Delete, $"/repositories/{t.RepositoryId}"), Destructive: true),
        new("POST", "/repositories/{id:long}/permissions", Need.Admin, (f, t) => Send(HttpMethod.Post, $"/repositories/{t.RepositoryId}/permissions",
            ApiClient.Form(("keyId", f.GrantableKeyId), ("role", "Read")))),
        // Alphacast datasets.
        new("POST", "/datasets", Need.Write, (_, t) => Send(HttpMethod.Post, "/datasets", ApiClient.Form(("name", Unique("ds")), ("repositoryId", $"{t.RepositoryId}")))),
        new("GET", "/datasets", Need.AnyKey, (_, _) => Get("/datasets?limit=5")),
        new("GET", "/datasets/{id:long}", Need.Read, (_, t) => Get($"/datasets/{t.DatasetId}")),
        new("DELETE", "/datasets/{id:long}", Need.Admin, (_, t) => Send(HttpMethod.Delete, $"/datasets/{t.DatasetId}"), Destructive: true),
        new("GET", "/datasets/{id:long}/manifest", Need.Read, (_, t) => Get($"/datasets/{t.DatasetId}/manifest")),
        new("PUT", "/datasets/{id:long}/manifest", Need.Write, (_, t) => Send(HttpMethod.Put, $"/datasets/{t.DatasetId}/manifest",
            new StringContent(ApiClient.DateCountryManifest, Encoding.UTF8, "application/json"))),
        new("GET", "/datasets/{id:long}/columns", Need.Read, (_, t) => Get($"/datasets/{t.DatasetId}/columns")),
        new("PUT", "/datasets/{id:long}/columns/initializer", Need.Write, (_, t) => Send(HttpMethod.Put, $"/datasets/{t.DatasetId}/columns/initializer",
            ApiClient.Form(("dateColumnName", "Date"), ("dateFormat", "%Y-%m-%d"), ("entitiesColumnNames", "Country")))),
        new("GET", "/datasets/{id:long}/date-stats", Need.Read, (_, t) => Get($"/datasets/{t.DatasetId}/date-stats")),
        new("PUT", "/datasets/{id:long}/data", Need.Write, (_, t) => Send(HttpMethod.Put, $"/datasets/{t.DatasetId}/data", Multipart("data", "d.csv", Csv))),
        new("GET", "/datasets/{id:long}/data", Need.Read, (_, t) => Get($"/datasets/{t.DatasetId}/data")),
        new("GET", "/datasets/{id:long}/processes", Need.Read, (_, t) => Get($"/datasets/{t.DatasetId}/processes")),
        new("GET", "/datasets/{id:long}/processes/{processId:long}", Need.Read, (_, t) => Get($"/datasets/{t.DatasetId}/processes/{t.ProcessId}")),
        // V4 presigned uploads, at both prefixes.
        .. ((string[])["", "/api/v1/data-collection"]).SelectMany(prefix => (Route[])
        [
            new("GET", prefix + "/datasets/{id:long}/upload-url/{filename}", Need.Write, (_, t) => Get($"{prefix}/datasets/{t.DatasetId}/upload-url/x.csv")),
            new("GET", prefix + "/datasets/{id:long}/imports", Need.Read, (_, t) => Get($"{prefix}/datasets/{t.DatasetId}/imports")),
            new("GET", prefix + "/datasets/{id:long}/imports/{importId:long}", Need.Read, (_, t) => Get($"{prefix}/datasets/{t.DatasetId}/imports/{t.ProcessId}")),
            new("PUT", prefix + "/datasets/{id:long}/schema", Need.Write, (_, t) => Send(HttpMethod.Put, $"{prefix}/datasets/{t.DatasetId}/schema",
                new StringContent(ApiClient.DateCountryManifest, Encoding.UTF8, "application/json"))),
        ]),
        new("GET", "/api/v1/data-collection/datasets/{id:long}", Need.Read, (_, t) => Get($"/api/v1/data-collection/datasets/{t.DatasetId}")),
        // The presigned PUT: its URL is the credential, whatever else the request carries.
        new("PUT", "/uploads/{token}", Need.Anonymous, async (f, t) => Request(HttpMethod.Put, await UploadPathAsync(f, t),
            new StringContent(Csv, Encoding.UTF8, "text/csv"))),
        // Data8 blocks.
        new("POST", "/Dataset", Need.AnyKey, (_, _) => Send(HttpMethod.Post, "/Dataset", JsonContent.Create(new { name = Unique("blk"), columns = new { Name = "string" } }))),
        new("GET", "/Dataset/{name}", Need.Read, (_, t) => Get($"/Dataset/{t.BlockName}")),
        new("PUT", "/Dataset/{name}", Need.Write, (_, t) => Send(HttpMethod.Put, $"/Dataset/{t.BlockName}", JsonContent.Create(new { completed = true })),
            Destructive: true),
        new("PATCH", "/Dataset/{name}/data", Need.Write, (_, t) => Send(HttpMethod.Patch, $"/Dataset/{t.BlockName}/data",
            JsonContent.Create(new { blockNumber = 0, records = new[] { new { Name = "Ann" } } }))),
        new("GET", "/Dataset/{name}/data", Need.Read, (_, t) => Get($"/Dataset/{t.BlockName}/data")),
        // Seed 004 versioned datasets.
        new("POST", "/api/datasets/upload", Need.Write, (_, t) => Send(HttpMethod.Post, "/api/datasets/upload",
            Multipart("file", "v.csv", "a,b\n1,2\n", ("project_id", $"{t.RepositoryId}"), ("name", Unique("v"))))),
        new("GET", "/api/datasets", Need.AnyKey, (_, _) => Get("/api/datasets?limit=5")),
        new("GET", "/api/datasets/{id}", Need.Read, (_, t) => Get($"/api/datasets/{t.VersionedUid}")),
        new("DELETE", "/api/datasets/{id}", Need.Admin, (_, t) => Send(HttpMethod.Delete, $"/api/datasets/{t.VersionedUid}"), Destructive: true),
        new("GET", "/api/datasets/{id}/columns", Need.Read, (_, t) => Get($"/api/datasets/{t.VersionedUid}/columns")),
        new("GET", "/api/datasets/{id}/download", Need.Read, (_, t) => Get($"/api/datasets/{t.VersionedUid}/download")),
        new("GET", "/api/datasets/{id}/quality", Need.Read, (_, t) => Get($"/api/datasets/{t.VersionedUid}/quality")),
        new("GET", "/api/datasets/{id}/versions", Need.Read, (_, t) => Get($"/api/datasets/{t.VersionedUid}/versions")),
        new("POST", "/api/datasets/{id}/versions", Need.Write, (_, t) => Send(HttpMethod.Post, $"/api/datasets/{t.VersionedUid}/versions",
            Multipart("file", "v.csv", "a,b\n1,2\n3,4\n", ("description", "matrix")))),
        new("GET", "/api/dataset-versions/{versionId:guid}", Need.Read, (_, t) => Get($"/api/dataset-versions/{t.VersionId}")),
        new("GET", "/api/datasets/{id}/analyze", Need.Read, (_, t) => Get($"/api/datasets/{t.VersionedUid}/analyze")),
        new("GET", "/api/datasets/{id}/compare", Need.Read, (_, t) => Get($"/api/datasets/{t.VersionedUid}/compare?v1=0&v2=0")),
        new("GET", "/api/datasets/{id}/lineage", Need.Read, (_, t) => Get($"/api/datasets/{t.VersionedUid}/lineage")),
        new("POST", "/api/experiments", Need.Write, (_, t) => Send(HttpMethod.Post, "/api/experiments", JsonContent.Create(new { dataset_version_id = t.VersionId, name = "e" }))),
        new("POST", "/api/models", Need.Write, (_, t) => Send(HttpMethod.Post, "/api/models", JsonContent.Create(new { experiment_id = t.ExperimentId, name = "m" }))),
        new("POST", "/api/deployments", Need.Write, (_, t) => Send(HttpMethod.Post, "/api/deployments", JsonContent.Create(new { model_id = t.ModelId, name = "d" }))),
    ];

    [Fact]
    public void Every_mapped_route_has_a_matrix_entry()
    {
        var mapped = MappedRoutes();
        var dashboard = mapped.Where(r => r.Pattern.StartsWith("/dashboard", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(dashboard);
        var inMatrix = Routes.Select(r => (r.Method, r.Pattern)).ToHashSet();
        var missing = mapped.Except(dashboard).Where(r => !inMatrix.Contains(r)).Select(r => $"{r.Method} {r.Pattern}").ToList();
        Assert.True(missing.Count == 0, "Routes without a matrix entry (add them to AuthorizationMatrixTests.Routes):\n" + string.Join("\n", missing));
        var stale = inMatrix.Where(r => !mapped.Contains(r)).Select(r => $"{r.Method} {r.Pattern}").ToList();
        Assert.True(stale.Count == 0, "Matrix entries for routes that no longer exist:\n" + string.Join("\n", stale));
    }

    [Fact]
    public async Task Every_route_answers_each_kind_of_caller_as_designed()
    {
        var failures = new List<string>();
        var requests = 0;
        foreach (var route in Routes)
        {
            foreach (var caller in Enum.GetValues<Caller>())
            {
                var expected = Expected(route.Need, caller);
                var target = caller == Caller.PublicRepository ? _fixture.Public : _fixture.Private;
                // Deleting or completing the shared things would change what later rows see: those get their own.
                if (route.Destructive && expected == HttpStatusCode.OK) target = await FreshTargetAsync(_fixture, caller == Caller.PublicRepository);
                using var request = await route.Build(_fixture, target);
                Authorize(request, _fixture.Credentials[caller]);
                using var response = await platform.NoRedirectClient().SendAsync(request);
                requests++;
                var problem = await CheckAsync(response, expected);
                if (problem is not null) failures.Add($"{route.Method} {route.Pattern} as {caller}: {problem}");
            }
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of {requests} answers are wrong:\n" + string.Join("\n", failures));
    }

    [Fact]
    public async Task The_dashboard_is_for_global_admins_only()
    {
        foreach (var (method, pattern) in MappedRoutes().Where(r => r.Pattern.StartsWith("/dashboard", StringComparison.Ordinal)))
        {
            var path = string.Join('/', pattern.Split('/').Select(segment => !segment.StartsWith('{') ? segment : segment.Contains(":int") ? "1" : "x"));
            foreach (var caller in Enum.GetValues<Caller>())
            {
                using var request = new HttpRequestMessage(method == "*" ? HttpMethod.Get : new HttpMethod(method), path);
                Authorize(request, _fixture.Credentials[caller]);
                // Headers only: some dashboard routes stream (the live trace) until the client goes away.
                using var response = await platform.NoRedirectClient().SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                var status = (int)response.StatusCode;
                if (caller == Caller.GlobalAdmin)
                    Assert.True(status is not (401 or 403), $"{method} {pattern} as {caller}: {status}");
                else
                    Assert.True(status == (IsAuthenticated(caller) ? 403 : 401), $"{method} {pattern} as {caller}: {status}, expected {(IsAuthenticated(caller) ? 403 : 401)}");
            }
        }
    }

    [Fact]
    public async Task Lists_show_a_private_repository_only_to_keys_with_a_role_in_it()
    {
        var target = _fixture.Private;
        foreach (var caller in new[] { Caller.Read, Caller.Write, Caller.WriteToken, Caller.Admin, Caller.GlobalAdmin, Caller.OtherRepository, Caller.PublicRepository })
        {
            var sees = caller is not (Caller.OtherRepository or Caller.PublicRepository);
            foreach (var (path, id) in new[]
                     {
                         ("/repositories?limit=5000", $"\"id\":{target.RepositoryId},"),
                         ("/datasets?limit=5000", $"\"id\":{target.DatasetId},"),
                         ($"/api/datasets?limit=500&search={target.VersionedName}", $"\"id\":\"{target.VersionedUid}\""),
                     })
            {
                using var request = Request(HttpMethod.Get, path);
                Authorize(request, _fixture.Credentials[caller]);
                var body = await (await platform.RawClient().SendAsync(request)).Content.ReadAsStringAsync();
                Assert.True(body.Contains(id) == sees, $"{path} as {caller}: {(sees ? "misses" : "shows")} {id}");
            }
        }
    }

    [Fact]
    public async Task Revoked_keys_and_their_tokens_stop_at_once_and_forged_or_expired_tokens_are_refused()
    {
        var admin = platform.Client();
        var created = await ApiClient.ExpectJsonAsync(await admin.Http.PostAsync("/keys", ApiClient.Form(("name", "soon revoked"))), HttpStatusCode.Created);
        var (id, key) = (created.GetProperty("id").GetString()!, created.GetProperty("key").GetString()!);
        var token = (await ApiClient.ExpectJsonAsync(await admin.Http.PostAsync("/connect/token",
            ApiClient.Form(("grant_type", "client_credentials"), ("client_id", id), ("client_secret", key))), HttpStatusCode.OK)).GetProperty("access_token").GetString()!;
        async Task<HttpStatusCode> StatusAsync(string credential)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/repositories?limit=1");
            Authorize(request, credential);
            return (await platform.RawClient().SendAsync(request)).StatusCode;
        }
        // Both are verified now, and so sit in the gateway's verification cache...
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(key));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(token));
        Assert.Equal(HttpStatusCode.NoContent, (await admin.Http.DeleteAsync($"/keys/{id}")).StatusCode);
        // ...which does not keep a revoked key alive.
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(key));
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(token));

        var tokens = platform.Services.GetRequiredService<DatasetPlatform.Grains.Storage.SignedTokens>();
        var adminId = KeyId(platform.AdminKey);
        var expired = await DatasetPlatform.Api.Auth.AccessTokens.IssueAsync(tokens, adminId, DateTimeOffset.UtcNow.AddMinutes(-1));
        var valid = await DatasetPlatform.Api.Auth.AccessTokens.IssueAsync(tokens, adminId, DateTimeOffset.UtcNow.AddMinutes(5));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(valid));
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(expired));
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(valid[..^2] + (valid[^2] == 'A' ? "BB" : "AA")));
        // A presigned upload token is signed for another purpose: it is no access token.
        var upload = await tokens.SignAsync("upload-url", $"1:{DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeSeconds()}");
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync("dpt." + upload));
    }

    private static bool IsAuthenticated(Caller caller) => caller is not (Caller.NoKey or Caller.BadKey or Caller.RevokedKey or Caller.RevokedKeysToken);

    /// <summary>The design: 401 without a valid credential, 404 for what the caller cannot see, 403 for a missing role, else success.</summary>
    private static HttpStatusCode Expected(Need need, Caller caller)
    {
        if (need == Need.Anonymous) return HttpStatusCode.OK;
        if (!IsAuthenticated(caller)) return HttpStatusCode.Unauthorized;
        if (need == Need.GlobalAdmin) return caller == Caller.GlobalAdmin ? HttpStatusCode.OK : HttpStatusCode.Forbidden;
        if (need == Need.AnyKey) return HttpStatusCode.OK;
        var role = caller switch
        {
            Caller.Read or Caller.PublicRepository => Need.Read,
            Caller.Write or Caller.WriteToken => Need.Write,
            Caller.Admin or Caller.GlobalAdmin => Need.Admin,
            _ => Need.Anonymous, // no role at all: the repository's things do not exist for it
        };
        if (role == Need.Anonymous) return HttpStatusCode.NotFound;
        return role >= need ? HttpStatusCode.OK : HttpStatusCode.Forbidden;
    }

    /// <summary>Null when the answer is right: any 2xx for OK, else that status with a ProblemDetails body.</summary>
    private static async Task<string?> CheckAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var status = (int)response.StatusCode;
        var body = await response.Content.ReadAsStringAsync();
        var shown = body.Length > 200 ? body[..200] + "..." : body;
        if (expected == HttpStatusCode.OK) return status is >= 200 and < 300 ? null : $"{status}, expected 2xx: {shown}";
        if (status != (int)expected) return $"{status}, expected {(int)expected}: {shown}";
        if (response.Content.Headers.ContentType?.MediaType != "application/problem+json") return $"{status} without a ProblemDetails body: {shown}";
        return null;
    }

    private HashSet<(string Method, string Pattern)> MappedRoutes() =>
        platform.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["*"]).Select(m => (m, Normalize(e.RoutePattern.RawText!))))
            .ToHashSet();

    /// <summary>"/keys/" (a group's own route) and "keys" both read "/keys".</summary>
    private static string Normalize(string pattern) => "/" + pattern.Trim('/');

    private static void Authorize(HttpRequestMessage request, string? credential)
    {
        if (credential is null) return;
        // Keys as the Alphacast SDK sends them (Basic, key as user name); access tokens as Data8 does (Bearer).
        request.Headers.Authorization = credential.StartsWith("dpt.", StringComparison.Ordinal)
            ? new AuthenticationHeaderValue("Bearer", credential)
            : new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(credential + ":")));
    }

    private static Task<HttpRequestMessage> Get(string path) => Task.FromResult(new HttpRequestMessage(HttpMethod.Get, path));

    private static HttpRequestMessage Request(HttpMethod method, string path, HttpContent? content = null) => new(method, path) { Content = content };

    private static Task<HttpRequestMessage> Send(HttpMethod method, string path, HttpContent? content = null) => Task.FromResult(Request(method, path, content));

    private static MultipartFormDataContent Multipart(string field, string fileName, string body, params (string Name, string Value)[] fields)
    {
        var content = new MultipartFormDataContent();
        foreach (var (name, value) in fields) content.Add(new StringContent(value), name);
        content.Add(new ByteArrayContent(Encoding.UTF8.GetBytes(body)), field, fileName);
        return content;
    }

    private static string Unique(string prefix) => $"{prefix}_{Guid.NewGuid():N}"[..20];

    private static async Task<string> FreshKeyIdAsync(Fixture f)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/keys") { Content = ApiClient.Form(("name", "to revoke")) };
        Authorize(request, f.Credentials[Caller.GlobalAdmin]);
        var created = await ApiClient.ExpectJsonAsync(await f.Owner.Http.SendAsync(request), HttpStatusCode.Created);
        return created.GetProperty("id").GetString()!;
    }

    /// <summary>A fresh presigned upload URL (path and token) for the target's table dataset, asked for by its owner.</summary>
    private static async Task<string> UploadPathAsync(Fixture f, Target t)
    {
        var answer = await ApiClient.ExpectJsonAsync(await f.Owner.Http.GetAsync($"/datasets/{t.DatasetId}/upload-url/p.csv"), HttpStatusCode.Created);
        return new Uri(answer.GetProperty("upload_url").GetString()!).PathAndQuery;
    }

    private static async Task<Fixture> CreateFixtureAsync(PlatformFixture platform)
    {
        var admin = platform.Client();
        async Task<(string Id, string Key)> NewKeyAsync(string name)
        {
            var created = await ApiClient.ExpectJsonAsync(await admin.Http.PostAsync("/keys", ApiClient.Form(("name", name))), HttpStatusCode.Created);
            return (created.GetProperty("id").GetString()!, created.GetProperty("key").GetString()!);
        }
        async Task<string> TokenAsync((string Id, string Key) key)
        {
            var answer = await admin.Http.PostAsync("/connect/token",
                ApiClient.Form(("grant_type", "client_credentials"), ("client_id", key.Id), ("client_secret", key.Key)));
            return (await ApiClient.ExpectJsonAsync(answer, HttpStatusCode.OK)).GetProperty("access_token").GetString()!;
        }

        var owner = await NewKeyAsync("matrix owner");
        var reader = await NewKeyAsync("matrix reader");
        var writer = await NewKeyAsync("matrix writer");
        var repoAdmin = await NewKeyAsync("matrix repository admin");
        var other = await NewKeyAsync("matrix other repository");
        var stranger = await NewKeyAsync("matrix stranger");
        var grantable = await NewKeyAsync("matrix grantee");
        var revoked = await NewKeyAsync("matrix revoked");
        var revokedWithToken = await NewKeyAsync("matrix revoked with token");
        var writerToken = await TokenAsync(writer);
        var revokedToken = await TokenAsync(revokedWithToken);
        foreach (var key in new[] { revoked, revokedWithToken })
            Assert.Equal(HttpStatusCode.NoContent, (await admin.Http.DeleteAsync($"/keys/{key.Id}")).StatusCode);

        var ownerClient = platform.Client(owner.Key);
        var grants = new Dictionary<string, string> { [reader.Id] = "Read", [writer.Id] = "Write", [repoAdmin.Id] = "Admin" };
        var fixture = new Fixture
        {
            Owner = ownerClient,
            GrantableKeyId = grantable.Id,
            WriteKeyId = writer.Id,
            WriteKey = writer.Key,
            Credentials = new()
            {
                [Caller.NoKey] = null,
                [Caller.BadKey] = "dp_0000000000000000_not-a-key",
                [Caller.RevokedKey] = revoked.Key,
                [Caller.RevokedKeysToken] = revokedToken,
                [Caller.Read] = reader.Key,
                [Caller.Write] = writer.Key,
                [Caller.WriteToken] = writerToken,
                [Caller.Admin] = repoAdmin.Key,
                [Caller.OtherRepository] = other.Key,
                [Caller.PublicRepository] = stranger.Key,
                [Caller.GlobalAdmin] = platform.AdminKey,
            },
            Private = await CreateTargetAsync(ownerClient, "Private", grants, full: true),
            Public = await CreateTargetAsync(ownerClient, "Public", grants, full: true),
        };
        // The other key has a repository (and dataset) of its own.
        await platform.Client(other.Key).NewDatasetAsync();
        return fixture;
    }

    private static Task<Target> FreshTargetAsync(Fixture f, bool isPublic) =>
        CreateTargetAsync(f.Owner, isPublic ? "Public" : "Private", new Dictionary<string, string>
        {
            [KeyId(f.Credentials[Caller.Read]!)] = "Read",
            [KeyId(f.Credentials[Caller.Write]!)] = "Write",
            [KeyId(f.Credentials[Caller.Admin]!)] = "Admin",
        }, full: false);

    private static string KeyId(string key) => key.Split('_')[1];

    /// <summary>
    /// A repository with the given grants, a table dataset with a manifest, and a block dataset; when <paramref name="full"/>,
    /// also one upload (a process, an import) and a versioned dataset with a version, an experiment and a model.
    /// </summary>
    private static async Task<Target> CreateTargetAsync(ApiClient owner, string privacy, IReadOnlyDictionary<string, string> grants, bool full)
    {
        var repositoryId = await owner.CreateRepositoryAsync(privacy);
        foreach (var (keyId, role) in grants)
            await ApiClient.ExpectJsonAsync(await owner.Http.PostAsync($"/repositories/{repositoryId}/permissions", ApiClient.Form(("keyId", keyId), ("role", role))),
                HttpStatusCode.OK);
        var datasetId = await owner.CreateDatasetAsync(repositoryId);
        await ApiClient.ExpectJsonAsync(await owner.Http.PutAsync($"/datasets/{datasetId}/manifest",
            new StringContent(ApiClient.DateCountryManifest, Encoding.UTF8, "application/json")), HttpStatusCode.OK);
        var blockName = Unique("blk");
        await ApiClient.ExpectJsonAsync(await owner.Http.PostAsJsonAsync("/datasets", new { name = blockName, repositoryId, mode = "blocks", columns = new { Name = "string" } }),
            HttpStatusCode.Created);
        var versionedUid = "00000000-0000-0000-0000-000000000000";
        var versionedName = Unique("v");
        var versionId = versionedUid;
        long processId = 0;
        string experimentId = versionedUid, modelId = versionedUid;
        if (full)
        {
            processId = (await owner.UploadAndWaitAsync(datasetId, Csv, ApiClient.DateCountryManifest)).GetProperty("id").GetInt64();
            var uploaded = await ApiClient.ExpectJsonAsync(await owner.Http.PostAsync("/api/datasets/upload",
                Multipart("file", "v.csv", "a,b\n1,2\n", ("project_id", $"{repositoryId}"), ("name", versionedName))), HttpStatusCode.Created);
            versionedUid = uploaded.GetProperty("dataset_id").GetString()!;
            versionId = uploaded.GetProperty("dataset_version_id").GetString()!;
            experimentId = (await ApiClient.ExpectJsonAsync(await owner.Http.PostAsJsonAsync("/api/experiments", new { dataset_version_id = versionId, name = "e" }),
                HttpStatusCode.Created)).GetProperty("id").GetString()!;
            modelId = (await ApiClient.ExpectJsonAsync(await owner.Http.PostAsJsonAsync("/api/models", new { experiment_id = experimentId, name = "m" }),
                HttpStatusCode.Created)).GetProperty("id").GetString()!;
        }
        else
        {
            // Destructive routes on seed 004 datasets need a versioned dataset of their own too.
            var uploaded = await ApiClient.ExpectJsonAsync(await owner.Http.PostAsync("/api/datasets/upload",
                Multipart("file", "v.csv", "a,b\n1,2\n", ("project_id", $"{repositoryId}"), ("name", versionedName))), HttpStatusCode.Created);
            versionedUid = uploaded.GetProperty("dataset_id").GetString()!;
        }
        return new Target(repositoryId, datasetId, blockName, versionedUid, versionedName, versionId, processId, experimentId, modelId);
    }
}
