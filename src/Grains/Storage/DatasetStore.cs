using Dapper;
using Npgsql;

namespace DatasetPlatform.Grains.Storage;

public sealed class DatasetNameTakenException(string name) : Exception($"A dataset named '{name}' already exists in this repository.");

/// <summary>Dataset catalog rows. Row data is handled by the import pipeline and <see cref="RowReader"/>.</summary>
public sealed class DatasetStore(NpgsqlDataSource dataSource)
{
    public async Task<DatasetRow> CreateAsync(long repositoryId, string name, string description, string? sourceName, string? sourceUrl,
        string mode, string? createdBy)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        try
        {
            return await connection.QuerySingleAsync<DatasetRow>(
                """
                INSERT INTO dp.datasets (repository_id, name, description, source_name, source_url, mode, created_by)
                VALUES (@repositoryId, @name, @description, @sourceName, @sourceUrl, @mode, @createdBy) RETURNING *
                """, new { repositoryId, name, description, sourceName, sourceUrl, mode, createdBy });
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw new DatasetNameTakenException(name);
        }
    }

    /// <summary>By numeric id or by uid (seed 004 addresses datasets by UUID).</summary>
    public async Task<DatasetRow?> GetByKeyAsync(string key)
    {
        if (long.TryParse(key, out var id)) return await GetAsync(id);
        if (!Guid.TryParse(key, out var uid)) return null;
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.QuerySingleOrDefaultAsync<DatasetRow>("SELECT * FROM dp.datasets WHERE uid = @uid", new { uid });
    }

    public async Task<DatasetRow?> GetAsync(long id)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.QuerySingleOrDefaultAsync<DatasetRow>("SELECT * FROM dp.datasets WHERE id = @id", new { id });
    }

    /// <summary>Whether the repository already has a dataset of this name (names are unique per repository).</summary>
    public async Task<bool> NameTakenAsync(long repositoryId, string name)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.ExecuteScalarAsync<bool>(
            "SELECT EXISTS (SELECT 1 FROM dp.datasets WHERE repository_id = @repositoryId AND name = @name)", new { repositoryId, name });
    }

    /// <summary>One page (by id) of the datasets in repositories the key can read, optionally in one repository, and how many there are in all.</summary>
    public async Task<(IReadOnlyList<(DatasetRow Dataset, RepositoryRole Role)> Items, long Total)> ListVisibleAsync(string keyId, bool isAdmin,
        long? repositoryId, int limit, int offset)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var parameters = new { keyId, isAdmin, repositoryId, limit, offset };
        var total = await connection.ExecuteScalarAsync<long>(
            $"""
            SELECT count(*) FROM dp.datasets d JOIN dp.repositories r ON r.id = d.repository_id
            WHERE (@repositoryId::bigint IS NULL OR d.repository_id = @repositoryId) AND ({RepositoryStore.RoleSql}) > 0
            """, parameters);
        var rows = await connection.QueryAsync<DatasetRow, int, (DatasetRow, RepositoryRole)>(
            $"""
            SELECT * FROM (
                SELECT d.*, {RepositoryStore.RoleSql} AS role
                FROM dp.datasets d JOIN dp.repositories r ON r.id = d.repository_id
                WHERE @repositoryId::bigint IS NULL OR d.repository_id = @repositoryId) v
            WHERE v.role > 0 ORDER BY v.id LIMIT @limit OFFSET @offset
            """,
            (dataset, role) => (dataset, (RepositoryRole)role), parameters, splitOn: "role");
        return ([.. rows], total);
    }

    /// <summary>
    /// A dataset by name (Data8 addresses datasets by name): among those the key can see, the one in its home
    /// repository first, then the oldest.
    /// </summary>
    public async Task<(DatasetRow Dataset, RepositoryRole Role)?> FindByNameAsync(string keyId, bool isAdmin, string name)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var rows = await connection.QueryAsync<DatasetRow, int, (DatasetRow, RepositoryRole)>(
            $"""
            SELECT * FROM (
                SELECT d.*, {RepositoryStore.RoleSql} AS role
                FROM dp.datasets d JOIN dp.repositories r ON r.id = d.repository_id WHERE d.name = @name) v
            WHERE v.role > 0
            ORDER BY (v.repository_id = (SELECT k.home_repository_id FROM dp.api_keys k WHERE k.id = @keyId)) DESC NULLS LAST, v.id LIMIT 1
            """,
            (dataset, role) => (dataset, (RepositoryRole)role), new { keyId, isAdmin, name }, splitOn: "role");
        return rows.Select(r => ((DatasetRow, RepositoryRole)?)r).FirstOrDefault();
    }

    /// <summary>One row of the seed 004 dataset list.</summary>
    public sealed class DatasetListRow
    {
        public long Id { get; init; }
        public Guid Uid { get; init; }
        public string Name { get; init; } = "";
        public string Description { get; init; } = "";
        public Guid ProjectId { get; init; }
        public string ProjectName { get; init; } = "";
        public Guid? DatasetVersionId { get; init; }
        public long Rows { get; init; }
        public int Columns { get; init; }
        public DateTime CreatedAt { get; init; }
    }

    // Sort keys map to fixed SQL; the user's choice only ever selects one of these.
    private static readonly Dictionary<string, string> SortColumns = new()
    {
        ["created_at"] = "d.created_at",
        ["name"] = "d.name",
        ["rows"] = "COALESCE(v.row_count, 0)",
        ["columns"] = "COALESCE(v.column_count, 0)",
        ["project_name"] = "r.name",
    };

    public static bool IsSortField(string field) => SortColumns.ContainsKey(field);

    /// <summary>Datasets the key can read, optionally in one repository and matching a search over name and description.</summary>
    public async Task<(IReadOnlyList<DatasetListRow> Items, long Total)> SearchAsync(string keyId, bool isAdmin, long? repositoryId, string? search,
        string sortField, bool descending, int limit, int offset)
    {
        var pattern = string.IsNullOrWhiteSpace(search) ? null
            : "%" + search.Trim().Replace("\\", "\\\\").Replace("%", "\\%").Replace("_", "\\_") + "%";
        var from = $"""
            FROM dp.datasets d
            JOIN dp.repositories r ON r.id = d.repository_id
            LEFT JOIN dp.dataset_versions v ON v.dataset_id = d.id AND v.version = d.current_version
            WHERE ({RepositoryStore.RoleSql}) > 0
              AND (@repositoryId::bigint IS NULL OR d.repository_id = @repositoryId)
              AND (@pattern::text IS NULL OR d.name ILIKE @pattern OR d.description ILIKE @pattern)
            """;
        await using var connection = await dataSource.OpenConnectionAsync();
        var parameters = new { keyId, isAdmin, repositoryId, pattern, limit, offset };
        var total = await connection.ExecuteScalarAsync<long>($"SELECT count(*) {from}", parameters);
        var items = await connection.QueryAsync<DatasetListRow>(
            $"""
            SELECT d.id, d.uid, d.name, d.description, r.uid AS project_id, r.name AS project_name, v.id AS dataset_version_id,
                   COALESCE(v.row_count, 0) AS rows, COALESCE(v.column_count, 0) AS columns, d.created_at
            {from}
            ORDER BY {SortColumns[sortField]} {(descending ? "DESC" : "ASC")}, d.id
            LIMIT @limit OFFSET @offset
            """, parameters);
        return ([.. items], total);
    }

    /// <summary>Rows in the dataset's current version.</summary>
    public async Task<long> CurrentRowCountAsync(DatasetRow dataset)
    {
        if (dataset.CurrentVersion is null) return 0;
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.ExecuteScalarAsync<long>(
            "SELECT row_count FROM dp.dataset_versions WHERE dataset_id = @id AND version = @version", new { id = dataset.Id, version = dataset.CurrentVersion });
    }

    public async Task SetCompletedAsync(long id, bool completed)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("UPDATE dp.datasets SET completed = @completed, updated_at = now() WHERE id = @id", new { id, completed });
    }

    public async Task SetManifestAsync(long id, string manifestJson, bool? locked)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await connection.ExecuteAsync(
            """
            UPDATE dp.datasets SET manifest = @manifestJson::jsonb, manifest_locked = COALESCE(@locked, manifest_locked), updated_at = now()
            WHERE id = @id
            """, new { id, manifestJson, locked });
    }

    public async Task SetSchemaAsync(long id, string manifestJson, bool strict)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await connection.ExecuteAsync(
            "UPDATE dp.datasets SET manifest = @manifestJson::jsonb, schema_strict = @strict, updated_at = now() WHERE id = @id",
            new { id, manifestJson, strict });
    }

    public async Task SetLockedAsync(long id, bool locked)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("UPDATE dp.datasets SET manifest_locked = @locked, updated_at = now() WHERE id = @id", new { id, locked });
    }

    /// <summary>Removes the dataset: its row table, and (by cascade) its jobs, staged files and versions.</summary>
    public async Task<bool> DeleteAsync(long id)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        // Lock the catalog row first: an import holds it for its whole transaction, so a delete waits for it.
        var exists = await connection.ExecuteScalarAsync<long?>("SELECT id FROM dp.datasets WHERE id = @id FOR UPDATE", new { id }, transaction);
        if (exists is null) return false;
        await connection.ExecuteAsync($"DROP TABLE IF EXISTS {DataTables.QualifiedName(id)}", transaction: transaction);
        await connection.ExecuteAsync("DELETE FROM dp.datasets WHERE id = @id", new { id }, transaction);
        await transaction.CommitAsync();
        return true;
    }
}
