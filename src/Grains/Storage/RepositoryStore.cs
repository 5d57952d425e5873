using Dapper;
using Npgsql;

namespace DatasetPlatform.Grains.Storage;

public enum RepositoryRole { None = 0, Read = 1, Write = 2, Admin = 3 }

/// <summary>Repositories and who may do what in them.</summary>
public sealed class RepositoryStore(NpgsqlDataSource dataSource)
{
    /// <summary>
    /// Role of key @keyId (admin flag @isAdmin) on repository alias r: owner or global admin = Admin, else an explicit
    /// grant, else Read when public. Every visibility check in the catalog uses this one expression.
    /// </summary>
    internal const string RoleSql = """
        CASE WHEN r.owner_key_id = @keyId OR @isAdmin THEN 3
             ELSE GREATEST(COALESCE((SELECT g.role FROM dp.repository_roles g WHERE g.repository_id = r.id AND g.key_id = @keyId), 0),
                           CASE WHEN r.privacy = 'Public' THEN 1 ELSE 0 END)
        END
        """;

    public async Task<RepositoryRow> CreateAsync(string name, string slug, string description, string privacy, string? team, string ownerKeyId)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.QuerySingleAsync<RepositoryRow>(
            """
            INSERT INTO dp.repositories (name, slug, description, privacy, team, owner_key_id)
            VALUES (@name, @slug, @description, @privacy, @team, @ownerKeyId) RETURNING *
            """, new { name, slug, description, privacy, team, ownerKeyId });
    }

    public async Task<RepositoryRow?> GetByUidAsync(Guid uid)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.QuerySingleOrDefaultAsync<RepositoryRow>("SELECT * FROM dp.repositories WHERE uid = @uid", new { uid });
    }

    public async Task<(RepositoryRow Repository, RepositoryRole Role)?> GetAsync(long id, string keyId, bool isAdmin)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var rows = await connection.QueryAsync<RepositoryRow, int, (RepositoryRow, RepositoryRole)>(
            $"SELECT r.*, {RoleSql} AS role FROM dp.repositories r WHERE r.id = @id",
            (repo, role) => (repo, (RepositoryRole)role), new { id, keyId, isAdmin }, splitOn: "role");
        var found = rows.SingleOrDefault();
        return found.Item1 is null ? null : found;
    }

    /// <summary>One page (by id) of the repositories the key can at least read, and how many there are in all.</summary>
    /// <param name="search">Kept: repositories whose name or description contains it (any case); null or blank keeps all.</param>
    public async Task<(IReadOnlyList<(RepositoryRow Repository, RepositoryRole Role)> Items, long Total)> ListVisibleAsync(string keyId, bool isAdmin,
        int limit, int offset, string? search = null)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var parameters = new { keyId, isAdmin, limit, offset, pattern = DatasetStore.ContainsPattern(search) };
        const string Matches = "(@pattern::text IS NULL OR r.name ILIKE @pattern OR r.description ILIKE @pattern)";
        var total = await connection.ExecuteScalarAsync<long>($"SELECT count(*) FROM dp.repositories r WHERE {Matches} AND ({RoleSql}) > 0", parameters);
        var rows = await connection.QueryAsync<RepositoryRow, int, (RepositoryRow, RepositoryRole)>(
            $"SELECT * FROM (SELECT r.*, {RoleSql} AS role FROM dp.repositories r WHERE {Matches}) v WHERE v.role > 0 ORDER BY v.id LIMIT @limit OFFSET @offset",
            (repo, role) => (repo, (RepositoryRole)role), parameters, splitOn: "role");
        return ([.. rows], total);
    }

    public async Task<RepositoryRole> RoleAsync(long repositoryId, string keyId, bool isAdmin)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return (RepositoryRole)await connection.ExecuteScalarAsync<int>(
            $"SELECT COALESCE((SELECT {RoleSql} FROM dp.repositories r WHERE r.id = @id), 0)", new { id = repositoryId, keyId, isAdmin });
    }

    public async Task GrantAsync(long repositoryId, string keyId, RepositoryRole role)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await connection.ExecuteAsync(
            """
            INSERT INTO dp.repository_roles (repository_id, key_id, role) VALUES (@repositoryId, @keyId, @role)
            ON CONFLICT (repository_id, key_id) DO UPDATE SET role = EXCLUDED.role
            """, new { repositoryId, keyId, role = (short)role });
    }

    /// <summary>The datasets of a repository, by id.</summary>
    public async Task<IReadOnlyList<long>> DatasetIdsAsync(long repositoryId)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return [.. await connection.QueryAsync<long>("SELECT id FROM dp.datasets WHERE repository_id = @repositoryId ORDER BY id", new { repositoryId })];
    }

    /// <summary>
    /// Deletes the repository, its datasets' catalog rows and their row tables. Its datasets are deleted through their grains
    /// first (RepositoriesApi): this catches one created meanwhile, and waits for whoever still holds it.
    /// </summary>
    public async Task DeleteAsync(long id)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        // The repository row first (no new dataset can join it meanwhile), then its datasets in id order, so running imports
        // finish before their tables go.
        await connection.ExecuteAsync("SELECT id FROM dp.repositories WHERE id = @id FOR UPDATE", new { id }, transaction);
        var datasetIds = await connection.QueryAsync<long>("SELECT id FROM dp.datasets WHERE repository_id = @id ORDER BY id FOR UPDATE", new { id }, transaction);
        foreach (var datasetId in datasetIds)
            await connection.ExecuteAsync($"DROP TABLE IF EXISTS {DataTables.QualifiedName(datasetId)}", transaction: transaction);
        await connection.ExecuteAsync("DELETE FROM dp.repositories WHERE id = @id", new { id }, transaction);
        await transaction.CommitAsync();
    }
}
