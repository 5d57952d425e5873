using DatasetPlatform.Api.Apis;
using DatasetPlatform.Grains.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace DatasetPlatform.Api.Auth;

/// <summary>
/// Resolves a dataset for a caller: 404 when the key cannot see it (so ids of private datasets do not leak),
/// 403 when it can see it but lacks the role the operation needs.
/// </summary>
public sealed class DatasetAccess(DatasetStore datasets, RepositoryStore repositories)
{
    public Task<(DatasetRow? Dataset, RepositoryRole Role, ProblemHttpResult? Problem)> ResolveAsync(long datasetId, Caller caller, RepositoryRole required) =>
        ResolveAsync(datasetId.ToString(System.Globalization.CultureInfo.InvariantCulture), caller, required);

    /// <summary>The dataset by numeric id or uid.</summary>
    public async Task<(DatasetRow? Dataset, RepositoryRole Role, ProblemHttpResult? Problem)> ResolveAsync(string datasetId, Caller caller, RepositoryRole required)
    {
        // One statement for the dataset and the key's role on it (every request to a dataset asks both).
        var (dataset, role) = await datasets.GetWithRoleAsync(datasetId, caller.KeyId, caller.IsAdmin) ?? (null!, RepositoryRole.None);
        if (role == RepositoryRole.None) return (null, role, Problems.NotFound($"Dataset {datasetId} does not exist or is not accessible to this key."));
        if (role < required) return (null, role, Problems.Forbidden($"This key has {role} permission on dataset {datasetId}; {required} is required."));
        return (dataset, role, null);
    }

    /// <summary>A repository (seed 004's project) by numeric id or uid.</summary>
    public async Task<(RepositoryRow? Repository, RepositoryRole Role, ProblemHttpResult? Problem)> ResolveRepositoryAsync(string key, Caller caller, RepositoryRole required)
    {
        if (long.TryParse(key, out var id)) return await ResolveRepositoryAsync(id, caller, required);
        var found = Guid.TryParse(key, out var uid) ? await repositories.GetByUidAsync(uid) : null;
        if (found is null) return (null, RepositoryRole.None, Problems.NotFound($"Project {key} does not exist or is not accessible to this key."));
        return await ResolveRepositoryAsync(found.Id, caller, required);
    }

    public async Task<(RepositoryRow? Repository, RepositoryRole Role, ProblemHttpResult? Problem)> ResolveRepositoryAsync(long repositoryId, Caller caller, RepositoryRole required)
    {
        var found = await repositories.GetAsync(repositoryId, caller.KeyId, caller.IsAdmin);
        if (found is not { } pair || pair.Role == RepositoryRole.None)
            return (null, RepositoryRole.None, Problems.NotFound($"Repository {repositoryId} does not exist or is not accessible to this key."));
        if (pair.Role < required)
            return (null, pair.Role, Problems.Forbidden($"This key has {pair.Role} permission on repository {repositoryId}; {required} is required."));
        return (pair.Repository, pair.Role, null);
    }
}
