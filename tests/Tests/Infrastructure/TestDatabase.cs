using Npgsql;

namespace DatasetPlatform.Tests.Infrastructure;

/// <summary>
/// A fresh, empty database on the PostgreSQL that ./test.sh started, owned by a role of its own that is no superuser
/// (as in production). Dropped, with its role, on disposal.
/// </summary>
public sealed class TestDatabase : IAsyncDisposable
{
    private readonly string _serverConnectionString;
    private readonly string _name;
    private readonly string _role;

    private TestDatabase(string serverConnectionString, string name, string role, string connectionString)
    {
        _serverConnectionString = serverConnectionString;
        _name = name;
        _role = role;
        ConnectionString = connectionString;
    }

    /// <summary>The service role's connection string to the new database.</summary>
    public string ConnectionString { get; }

    public static async Task<TestDatabase> CreateAsync(string prefix)
    {
        var server = Environment.GetEnvironmentVariable("DP_TEST_POSTGRES")
            ?? throw new InvalidOperationException("DP_TEST_POSTGRES is not set: run the tests with ./test.sh, which starts PostgreSQL.");
        var name = $"{prefix}_{DateTime.UtcNow:yyyyMMddHHmmss}_{Guid.NewGuid().ToString("N")[..8]}";
        var role = name + "_svc";
        var password = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        await RunAsync(server,
            $"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '{password}'",
            $"CREATE DATABASE {name} OWNER {role}");
        var connectionString = new NpgsqlConnectionStringBuilder(server) { Database = name, Username = role, Password = password }.ConnectionString;
        return new TestDatabase(server, name, role, connectionString);
    }

    private static async Task RunAsync(string connectionString, params string[] statements)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        foreach (var statement in statements)
        {
            await using var command = new NpgsqlCommand(statement, connection);
            await command.ExecuteNonQueryAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await RunAsync(_serverConnectionString, $"DROP DATABASE IF EXISTS {_name} WITH (FORCE)", $"DROP ROLE IF EXISTS {_role}");
    }
}
