using System.Security.Cryptography;
using System.Text;
using Dapper;
using Npgsql;

namespace DatasetPlatform.Grains.Storage;

/// <summary>A newly minted key: the only moment its secret is known in clear.</summary>
public sealed record IssuedKey(string Id, string Key, string Name, bool IsAdmin);

/// <summary>
/// API keys look like dp_{id}_{secret}. The id is public (it is also the OAuth client_id); only the
/// SHA-256 of the secret is stored, compared in constant time.
/// </summary>
public sealed class KeyStore(NpgsqlDataSource dataSource)
{
    public async Task<IssuedKey> CreateAsync(string name, bool isAdmin, string? createdBy)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await InsertAsync(connection, null, name, isAdmin, createdBy);
    }

    /// <summary>
    /// Mints the first admin key when there is no active admin key, or returns null. Gateways that start together on an
    /// empty database (a Kubernetes Deployment) serialize on an advisory lock, so exactly one of them mints it.
    /// </summary>
    public async Task<IssuedKey?> CreateBootstrapAdminIfNoneAsync()
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await connection.ExecuteAsync("SELECT pg_advisory_xact_lock(hashtext('dp.bootstrap-admin-key'))", transaction: transaction);
        var any = await connection.ExecuteScalarAsync<bool>(
            "SELECT EXISTS (SELECT 1 FROM dp.api_keys WHERE is_admin AND revoked_at IS NULL)", transaction: transaction);
        if (any) return null;
        var issued = await InsertAsync(connection, transaction, "bootstrap admin", isAdmin: true, createdBy: null);
        await transaction.CommitAsync();
        return issued;
    }

    private static async Task<IssuedKey> InsertAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string name, bool isAdmin,
        string? createdBy)
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var secret = Base64Url(RandomNumberGenerator.GetBytes(24));
        await connection.ExecuteAsync(
            "INSERT INTO dp.api_keys (id, secret_hash, name, is_admin, created_by) VALUES (@id, @hash, @name, @isAdmin, @createdBy)",
            new { id, hash = Hash(secret), name, isAdmin, createdBy }, transaction);
        return new IssuedKey(id, $"dp_{id}_{secret}", name, isAdmin);
    }

    /// <summary>Returns the key's row when <paramref name="presented"/> is a valid, unrevoked key; null otherwise.</summary>
    public async Task<ApiKeyRow?> VerifyAsync(string presented)
    {
        if (!TrySplit(presented, out var id, out var secret)) return null;
        var row = await GetActiveAsync(id);
        if (row is null) return null;
        return CryptographicOperations.FixedTimeEquals(row.SecretHash, Hash(secret)) ? row : null;
    }

    /// <summary>An unrevoked key by id (for access tokens, which carry the key id, not the secret).</summary>
    public async Task<ApiKeyRow?> GetActiveAsync(string id)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.QuerySingleOrDefaultAsync<ApiKeyRow>("SELECT * FROM dp.api_keys WHERE id = @id AND revoked_at IS NULL", new { id });
    }

    /// <summary>The key's own repository (Data8 datasets go there unless told otherwise), created on first use.</summary>
    public async Task<long> HomeRepositoryAsync(string keyId, string keyName)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        // The row lock makes two first requests of the same key agree on one home.
        var home = await connection.ExecuteScalarAsync<long?>("SELECT home_repository_id FROM dp.api_keys WHERE id = @keyId FOR UPDATE", new { keyId }, transaction);
        if (home is null)
        {
            home = await connection.ExecuteScalarAsync<long>(
                """
                INSERT INTO dp.repositories (name, slug, description, privacy, owner_key_id)
                VALUES (@name, @slug, 'Home repository of an API key', 'Private', @keyId) RETURNING id
                """, new { name = $"{keyName} (home)", slug = $"home-{keyId}", keyId }, transaction);
            await connection.ExecuteAsync("UPDATE dp.api_keys SET home_repository_id = @home WHERE id = @keyId", new { home, keyId }, transaction);
        }
        await transaction.CommitAsync();
        return home.Value;
    }

    /// <summary>One page of all keys, oldest first, and how many there are in all.</summary>
    public async Task<(IReadOnlyList<ApiKeyRow> Items, long Total)> ListAsync(int limit, int offset)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var total = await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM dp.api_keys");
        var items = await connection.QueryAsync<ApiKeyRow>("SELECT * FROM dp.api_keys ORDER BY created_at, id LIMIT @limit OFFSET @offset", new { limit, offset });
        return ([.. items], total);
    }

    /// <summary>The channel a revocation is announced on (NOTIFY, payload: the key id); every gateway listens to it.</summary>
    public const string RevocationChannel = "dp_key_revoked";

    /// <summary>
    /// Revokes the key and announces it on <see cref="RevocationChannel"/> in the same transaction, so every gateway of the
    /// cluster hears of it when (and only if) it commits and stops accepting the key from its cache of verified keys.
    /// </summary>
    public async Task<bool> RevokeAsync(string id)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        var revoked = await connection.ExecuteAsync("UPDATE dp.api_keys SET revoked_at = now() WHERE id = @id AND revoked_at IS NULL", new { id }, transaction) > 0;
        if (revoked) await connection.ExecuteAsync("SELECT pg_notify(@channel, @id)", new { channel = RevocationChannel, id }, transaction);
        await transaction.CommitAsync();
        return revoked;
    }

    /// <summary>Ids of the keys revoked within the last <paramref name="window"/> (by the database's clock).</summary>
    public async Task<IReadOnlyList<string>> RevokedWithinAsync(TimeSpan window, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var ids = await connection.QueryAsync<string>(new CommandDefinition(
            "SELECT id FROM dp.api_keys WHERE revoked_at > now() - make_interval(secs => @seconds)",
            new { seconds = window.TotalSeconds }, cancellationToken: cancellationToken));
        return [.. ids];
    }

    public static bool TrySplit(string presented, out string id, out string secret)
    {
        id = secret = "";
        var parts = presented.Trim().Split('_', 3);
        if (parts.Length != 3 || parts[0] != "dp" || parts[1].Length != 16 || parts[2].Length == 0) return false;
        id = parts[1];
        secret = parts[2];
        return true;
    }

    private static byte[] Hash(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
