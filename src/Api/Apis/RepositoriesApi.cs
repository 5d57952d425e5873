using System.Security.Claims;
using DatasetPlatform.Api.Auth;
using DatasetPlatform.Api.Hosting;
using DatasetPlatform.Grains.Abstractions;
using DatasetPlatform.Grains.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using DatasetPlatform.Api.Reference;

namespace DatasetPlatform.Api.Apis;

public static class RepositoriesApi
{
    public static IEndpointRouteBuilder MapRepositoriesApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/repositories").WithTags(ApiTags.Alphacast);
        group.MapPost("", Create).DisableAntiforgery().WithBody(RequestBodies.CreateRepository)
            .WithSummary("Creates a repository; its creator's key is its Admin");
        group.MapGet("", List).Paged().WithSummary("Lists the repositories this key can see, as a bare array")
            .ProducesProblems(StatusCodes.Status400BadRequest);
        group.MapGet("/{id:long}", Get).WithSummary("Gets a repository").ProducesProblems(StatusCodes.Status404NotFound);
        group.MapDelete("/{id:long}", Delete).WithSummary("Deletes a repository and its datasets (repository Admins)")
            .ProducesProblems(StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound);
        group.MapPost("/{id:long}/permissions", Grant).DisableAntiforgery().WithBody(RequestBodies.Grant)
            .WithSummary("Gives another key a role (Read, Write or Admin) on the repository (repository Admins)")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound);
        return app;
    }

    public static async Task<Results<Created<RepositoryResponse>, ProblemHttpResult>> Create(HttpRequest request, ClaimsPrincipal user, RepositoryStore repositories)
    {
        var caller = Caller.From(user);
        var fields = await RequestFields.ReadAsync(request);
        var name = fields.String("name")?.Trim();
        if (string.IsNullOrEmpty(name))
            return Problems.BadRequest("The repository needs a name.", new Dictionary<string, string[]> { ["name"] = ["Required."] });
        var privacy = fields.String("privacy")?.Trim() ?? "Private";
        privacy = privacy.Equals("public", StringComparison.OrdinalIgnoreCase) ? "Public"
            : privacy.Equals("private", StringComparison.OrdinalIgnoreCase) ? "Private" : "";
        if (privacy.Length == 0)
            return Problems.BadRequest("privacy must be Public or Private.", new Dictionary<string, string[]> { ["privacy"] = ["Public or Private."] });
        var slug = fields.String("slug")?.Trim();
        if (string.IsNullOrEmpty(slug)) slug = name.ToLowerInvariant().Replace(' ', '-');
        var row = await repositories.CreateAsync(name, slug, fields.String("description") ?? "", privacy, fields.String("team"), caller.KeyId);
        return TypedResults.Created($"/repositories/{row.Id}", RepositoryResponse.From(row, RepositoryRole.Admin));
    }

    /// <summary>A bare array (the Alphacast SDK reads one), paged with ?limit&amp;offset; X-Total-Count and Link say what is left.</summary>
    public static async Task<Results<Ok<List<RepositoryResponse>>, ProblemHttpResult>> List(HttpContext context, ClaimsPrincipal user, RepositoryStore repositories,
        IOptions<PlatformOptions> options, string? search)
    {
        if (!ListPage.TryParse(context.Request, options.Value, out var page, out var problem)) return problem!;
        var caller = Caller.From(user);
        var (rows, total) = await repositories.ListVisibleAsync(caller.KeyId, caller.IsAdmin, page.Limit, page.Offset, search);
        page.WriteHeaders(context.Response, total);
        return TypedResults.Ok(rows.Select(r => RepositoryResponse.From(r.Repository, r.Role)).ToList());
    }

    public static async Task<Results<Ok<RepositoryResponse>, ProblemHttpResult>> Get(long id, ClaimsPrincipal user, DatasetAccess access)
    {
        var (repository, role, problem) = await access.ResolveRepositoryAsync(id, Caller.From(user), RepositoryRole.Read);
        return problem ?? (Results<Ok<RepositoryResponse>, ProblemHttpResult>)TypedResults.Ok(RepositoryResponse.From(repository!, role));
    }

    /// <summary>
    /// Each dataset goes through its grain, as a dataset's own delete does: a running import or a download holding it is ended
    /// after a moment, and waiters learn it is gone. Deleting the rows directly waited for them (an import of hours, a slow
    /// download) while holding the repository, and left the grains' queues and reminders to find out later.
    /// </summary>
    public static async Task<Results<Ok<RepositoryResponse>, ProblemHttpResult>> Delete(long id, ClaimsPrincipal user, DatasetAccess access, RepositoryStore repositories,
        IGrainFactory grains)
    {
        var (repository, role, problem) = await access.ResolveRepositoryAsync(id, Caller.From(user), RepositoryRole.Admin);
        if (problem is not null) return problem;
        foreach (var datasetId in await repositories.DatasetIdsAsync(id))
            await GrainCalls.CallAsync(() => grains.GetGrain<IDatasetGrain>(datasetId).Delete(), GrainCalls.ChangeTimeout);
        await repositories.DeleteAsync(id);
        return TypedResults.Ok(RepositoryResponse.From(repository!, role));
    }

    /// <summary>Gives another key a role (Read, Write or Admin) on the repository; repository Admins only.</summary>
    public static async Task<Results<Ok<PermissionResponse>, ProblemHttpResult>> Grant(long id, HttpRequest request, ClaimsPrincipal user, DatasetAccess access,
        RepositoryStore repositories)
    {
        var (_, _, problem) = await access.ResolveRepositoryAsync(id, Caller.From(user), RepositoryRole.Admin);
        if (problem is not null) return problem;
        var fields = await RequestFields.ReadAsync(request);
        var keyId = fields.String("keyId");
        // Only the three names: Enum.TryParse would also take "7" or "Read,Write".
        var role = fields.String("role")?.Trim().ToLowerInvariant() switch
        {
            "read" => RepositoryRole.Read,
            "write" => RepositoryRole.Write,
            "admin" => RepositoryRole.Admin,
            _ => RepositoryRole.None,
        };
        if (string.IsNullOrWhiteSpace(keyId) || role == RepositoryRole.None)
            return Problems.BadRequest("Send keyId and role (Read, Write or Admin).");
        try { await repositories.GrantAsync(id, keyId, role); }
        catch (Npgsql.PostgresException e) when (e.SqlState == Npgsql.PostgresErrorCodes.ForeignKeyViolation)
        {
            return Problems.BadRequest($"Key '{keyId}' does not exist.");
        }
        return TypedResults.Ok(new PermissionResponse(id, keyId, role.ToString()));
    }
}

public sealed record PermissionResponse(long RepositoryId, string KeyId, string Role);
