using DatasetPlatform.Grains.Abstractions;
using Dapper;
using Npgsql;

namespace DatasetPlatform.Grains.Storage;

public sealed class DatasetNameTakenException(string name) : Exception($"A dataset named '{name}' already exists in this repository.");

/// <summary>Dataset catalog rows. Row data is handled by the import pipeline and <see cref="RowReader"/>.</summary>
public sealed class DatasetStore(NpgsqlDataSource dataSource)
{
    /// <summary>
    /// A new dataset id from the catalog's own sequence: the caller then creates the dataset through that id's grain
    /// (<see cref="CreateAsync"/>), so the grain that owns the dataset is the one that writes its row.
    /// </summary>
    public async Task<long> NextIdAsync()
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.ExecuteScalarAsync<long>("SELECT nextval(pg_get_serial_sequence('dp.datasets', 'id'))");
    }

    /// <summary>Inserts the catalog row under <paramref name="id"/> (from <see cref="NextIdAsync"/>), with its schema if it has one.</summary>
    public async Task CreateAsync(long id, DatasetDefinition definition)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        try
        {
            await connection.ExecuteAsync(
                """
                INSERT INTO dp.datasets (id, repository_id, name, description, source_name, source_url, mode, created_by, manifest, schema_strict)
                VALUES (@id, @RepositoryId, @Name, @Description, @SourceName, @SourceUrl, @Mode, @CreatedBy, @ManifestJson::jsonb, @SchemaStrict)
                """,
                new
                {
                    id, definition.RepositoryId, definition.Name, definition.Description, definition.SourceName, definition.SourceUrl, definition.Mode,
                    definition.CreatedBy, definition.ManifestJson, definition.SchemaStrict,
                });
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw new DatasetNameTakenException(definition.Name);
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

    /// <summary>
    /// The dataset by numeric id or uid with the role key <paramref name="keyId"/> has on its repository
    /// (<see cref="RepositoryStore.RoleSql"/>), in one statement: every request to a dataset asks both, and a small upload's
    /// fixed cost is mostly such round trips and pool checkouts (many-small).
    /// </summary>
    public async Task<(DatasetRow Dataset, RepositoryRole Role)?> GetWithRoleAsync(string key, string keyId, bool isAdmin)
    {
        var byId = long.TryParse(key, out var id);
        Guid uid = default;
        if (!byId && !Guid.TryParse(key, out uid)) return null;
        await using var connection = await dataSource.OpenConnectionAsync();
        var rows = await connection.QueryAsync<DatasetRow, int, (DatasetRow, RepositoryRole)>(
            $"SELECT d.*, COALESCE((SELECT {RepositoryStore.RoleSql} FROM dp.repositories r WHERE r.id = d.repository_id), 0) AS role "
            + $"FROM dp.datasets d WHERE {(byId ? "d.id = @id" : "d.uid = @uid")}",
            (dataset, role) => (dataset, (RepositoryRole)role), new { id, uid, keyId, isAdmin }, splitOn: "role");
        var found = rows.SingleOrDefault();
        return found.Item1 is null ? null : found;
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
    /// <param name="search">Kept: datasets whose name or description contains it (any case); null or blank keeps all.</param>
    public async Task<(IReadOnlyList<(DatasetRow Dataset, RepositoryRole Role)> Items, long Total)> ListVisibleAsync(string keyId, bool isAdmin,
        long? repositoryId, int limit, int offset, string? search = null)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var parameters = new { keyId, isAdmin, repositoryId, limit, offset, pattern = ContainsPattern(search) };
        const string Matches = "(@pattern::text IS NULL OR d.name ILIKE @pattern OR d.description ILIKE @pattern)";
        var total = await connection.ExecuteScalarAsync<long>(
            $"""
            SELECT count(*) FROM dp.datasets d JOIN dp.repositories r ON r.id = d.repository_id
            WHERE (@repositoryId::bigint IS NULL OR d.repository_id = @repositoryId) AND {Matches} AND ({RepositoryStore.RoleSql}) > 0
            """, parameters);
        var rows = await connection.QueryAsync<DatasetRow, int, (DatasetRow, RepositoryRole)>(
            $"""
            SELECT * FROM (
                SELECT d.*, {RepositoryStore.RoleSql} AS role
                FROM dp.datasets d JOIN dp.repositories r ON r.id = d.repository_id
                WHERE (@repositoryId::bigint IS NULL OR d.repository_id = @repositoryId) AND {Matches}) v
            WHERE v.role > 0 ORDER BY v.id LIMIT @limit OFFSET @offset
            """,
            (dataset, role) => (dataset, (RepositoryRole)role), parameters, splitOn: "role");
        return ([.. rows], total);
    }

    /// <summary>An ILIKE pattern for "contains <paramref name="search"/>", its wildcards escaped; null for none.</summary>
    internal static string? ContainsPattern(string? search) => string.IsNullOrWhiteSpace(search) ? null
        : "%" + search.Trim().Replace("\\", "\\\\").Replace("%", "\\%").Replace("_", "\\_") + "%";

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
        var pattern = ContainsPattern(search);
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

    /// <summary>
    /// Sets the completed flag under the row's lock, if <paramref name="decide"/> (the dataset grain's rule, given the locked
    /// row) answers Applied; NotFound when the dataset is gone.
    /// </summary>
    public Task<DatasetChangeOutcome> SetCompletedAsync(long id, bool completed, Func<DatasetRow, DatasetChangeOutcome> decide) =>
        ChangeAsync(id, decide, "UPDATE dp.datasets SET completed = @completed, updated_at = now() WHERE id = @id", new { id, completed });

    /// <summary>Replaces the manifest and/or sets its lock or strictness (null members stay) under the row's lock, as <see cref="SetCompletedAsync"/>.</summary>
    public Task<DatasetChangeOutcome> ChangeManifestAsync(long id, ManifestChange change, Func<DatasetRow, DatasetChangeOutcome> decide) =>
        ChangeAsync(id, decide,
            """
            UPDATE dp.datasets SET manifest = COALESCE(@ManifestJson::jsonb, manifest), manifest_locked = COALESCE(@Locked, manifest_locked),
                schema_strict = COALESCE(@Strict, schema_strict), updated_at = now()
            WHERE id = @id
            """, new { id, change.ManifestJson, change.Locked, change.Strict });

    private async Task<DatasetChangeOutcome> ChangeAsync(long id, Func<DatasetRow, DatasetChangeOutcome> decide, string updateSql, object parameters)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        var row = await connection.QuerySingleOrDefaultAsync<DatasetRow>("SELECT * FROM dp.datasets WHERE id = @id FOR NO KEY UPDATE", new { id }, transaction);
        if (row is null) return DatasetChangeOutcome.NotFound;
        var outcome = decide(row);
        if (outcome != DatasetChangeOutcome.Applied) return outcome;
        await connection.ExecuteAsync(updateSql, parameters, transaction);
        await transaction.CommitAsync();
        return outcome;
    }

    /// <summary>
    /// Removes the dataset: its row table, and (by cascade) its jobs, staged files and versions. The catalog row's lock comes
    /// first, and a running import holds it for its whole transaction, as a download holds the table: whoever still blocks
    /// the delete after <paramref name="patience"/> has their session terminated (an import then finds its job gone and
    /// ends; a download is cut off), so a delete never waits for an import of hours. Returns whether the dataset existed
    /// and the sessions that were ended.
    /// </summary>
    public async Task<(bool Existed, IReadOnlyList<int> EndedSessions)> DeleteAsync(long id, TimeSpan patience)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        using var done = new CancellationTokenSource();
        var blockers = EndBlockersAsync(connection.ProcessID, patience, done.Token);
        bool existed;
        try
        {
            await using var transaction = await connection.BeginTransactionAsync();
            existed = await connection.ExecuteScalarAsync<long?>("SELECT id FROM dp.datasets WHERE id = @id FOR UPDATE", new { id }, transaction) is not null;
            if (existed)
            {
                await connection.ExecuteAsync($"DROP TABLE IF EXISTS {DataTables.QualifiedName(id)}", transaction: transaction);
                await connection.ExecuteAsync("DELETE FROM dp.datasets WHERE id = @id", new { id }, transaction);
                await transaction.CommitAsync();
            }
        }
        finally
        {
            await done.CancelAsync();
        }
        return (existed, await blockers);
    }

    /// <summary>After <paramref name="patience"/>, terminates the sessions that block <paramref name="pid"/>, until cancelled.</summary>
    private async Task<IReadOnlyList<int>> EndBlockersAsync(int pid, TimeSpan patience, CancellationToken done)
    {
        var ended = new List<int>();
        try
        {
            await Task.Delay(patience, done);
            await using var connection = await dataSource.OpenConnectionAsync(done);
            while (!done.IsCancellationRequested)
            {
                ended.AddRange(await connection.QueryAsync<int>(
                    "SELECT b FROM unnest(pg_blocking_pids(@pid)) AS b WHERE pg_terminate_backend(b)", new { pid }));
                await Task.Delay(TimeSpan.FromMilliseconds(200), done);
            }
        }
        catch (OperationCanceledException) { }
        catch (NpgsqlException) { } // the delete itself goes on; at worst it waits for its blockers
        return ended;
    }
}
