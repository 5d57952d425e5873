using DatasetPlatform.Grains.Import;
using DatasetPlatform.Tests.Infrastructure;
using Npgsql;

namespace DatasetPlatform.Tests;

/// <summary>
/// Which errors an import retries, checked on real exceptions from the test's PostgreSQL: an outage (connection killed,
/// refused, pool exhausted, too many connections, deadlock, serialization failure) is transient; a bug is not.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class ImportErrorClassificationTests(PlatformFixture platform)
{
    private async Task<NpgsqlConnection> OpenAsync(string? connectionString = null)
    {
        var connection = new NpgsqlConnection(connectionString ?? platform.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    private static async Task<Exception?> OutcomeOfAsync(Func<Task> action)
    {
        try { await action(); }
        catch (Exception e) { return e; }
        return null;
    }

    private static async Task<Exception> FailureOfAsync(Func<Task> action) =>
        await OutcomeOfAsync(action) ?? throw new InvalidOperationException("The statement was expected to fail.");

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, NpgsqlTransaction? transaction = null)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task A_statement_the_database_cannot_run_is_not_transient_and_its_description_names_the_cause()
    {
        await using var connection = await OpenAsync();
        var missingColumn = await FailureOfAsync(() => ExecuteAsync(connection, "SELECT no_such_column FROM dp.datasets"));
        Assert.Equal("42703", Assert.IsType<PostgresException>(missingColumn).SqlState);
        Assert.False(ImportErrors.IsTransient(missingColumn));
        Assert.Equal("42703 column \"no_such_column\" does not exist", ImportErrors.Describe(missingColumn));

        var syntax = await FailureOfAsync(() => ExecuteAsync(connection, "SELEC 1"));
        Assert.False(ImportErrors.IsTransient(syntax));
        Assert.False(ImportErrors.IsTransient(new InvalidOperationException("a bug")));
        Assert.Equal("InvalidOperationException: a bug", ImportErrors.Describe(new InvalidOperationException("a bug")));
    }

    [Fact]
    public async Task A_killed_or_refused_connection_and_an_exhausted_pool_are_transient()
    {
        await using var victim = await OpenAsync();
        await using var killer = await OpenAsync();
        var sleeping = ExecuteAsync(victim, "SELECT pg_sleep(30)");
        await using (var terminate = new NpgsqlCommand($"SELECT pg_terminate_backend({victim.ProcessID})", killer))
            await terminate.ExecuteScalarAsync();
        var killed = await FailureOfAsync(() => sleeping);
        Assert.Equal("57P01", Assert.IsType<PostgresException>(killed).SqlState);
        Assert.True(ImportErrors.IsTransient(killed));

        var refused = await FailureOfAsync(() => OpenAsync($"Host=127.0.0.1;Port={PlatformFixture.FreePort()};Username=x;Password=x;Timeout=5"));
        Assert.IsType<NpgsqlException>(refused);
        Assert.True(ImportErrors.IsTransient(refused));

        var onePool = new NpgsqlConnectionStringBuilder(platform.ConnectionString) { MaxPoolSize = 1, Timeout = 1, ApplicationName = "pool-" + Guid.NewGuid() }.ConnectionString;
        await using var only = await OpenAsync(onePool);
        var exhausted = await FailureOfAsync(() => OpenAsync(onePool));
        Assert.IsType<NpgsqlException>(exhausted);
        Assert.True(ImportErrors.IsTransient(exhausted));
    }

    [Fact]
    public async Task Too_many_connections_a_deadlock_and_a_serialization_failure_are_transient()
    {
        await using var admin = await OpenAsync();
        var table = "retry_probe_" + Guid.NewGuid().ToString("N")[..8];
        var role = "limited_" + Guid.NewGuid().ToString("N")[..8];
        await ExecuteAsync(admin, $"CREATE TABLE {table} (id int PRIMARY KEY, v int); INSERT INTO {table} VALUES (1, 0), (2, 0)");
        // Only a superuser may create roles; the service's own role (platform.ConnectionString) may not.
        await using (var superuser = await OpenAsync(platform.SuperuserConnectionString))
            await ExecuteAsync(superuser, $"CREATE ROLE {role} LOGIN PASSWORD 'probe' CONNECTION LIMIT 0");
        try
        {
            var limited = new NpgsqlConnectionStringBuilder(platform.ConnectionString) { Username = role, Password = "probe", Pooling = false }.ConnectionString;
            var tooMany = await FailureOfAsync(() => OpenAsync(limited));
            Assert.Equal("53300", Assert.IsType<PostgresException>(tooMany).SqlState);
            Assert.True(ImportErrors.IsTransient(tooMany));

            // Two transactions that each hold the row the other wants: PostgreSQL ends one of them with 40P01.
            await using var a = await OpenAsync();
            await using var b = await OpenAsync();
            await using var ta = await a.BeginTransactionAsync();
            await using var tb = await b.BeginTransactionAsync();
            await ExecuteAsync(a, $"UPDATE {table} SET v = 1 WHERE id = 1", ta);
            await ExecuteAsync(b, $"UPDATE {table} SET v = 1 WHERE id = 2", tb);
            var outcomes = await Task.WhenAll(
                OutcomeOfAsync(() => ExecuteAsync(a, $"UPDATE {table} SET v = 2 WHERE id = 2", ta)),
                OutcomeOfAsync(() => ExecuteAsync(b, $"UPDATE {table} SET v = 2 WHERE id = 1", tb)));
            var deadlock = Assert.Single(outcomes.OfType<Exception>());
            Assert.Equal("40P01", Assert.IsType<PostgresException>(deadlock).SqlState);
            Assert.True(ImportErrors.IsTransient(deadlock));
            await ta.RollbackAsync();
            await tb.RollbackAsync();

            // A repeatable-read transaction that updates a row changed since its snapshot: 40001.
            await using var reader = await a.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead);
            await ExecuteAsync(a, $"SELECT * FROM {table}", reader);
            await ExecuteAsync(b, $"UPDATE {table} SET v = 3 WHERE id = 1");
            var serialization = await FailureOfAsync(() => ExecuteAsync(a, $"UPDATE {table} SET v = 4 WHERE id = 1", reader));
            Assert.Equal("40001", Assert.IsType<PostgresException>(serialization).SqlState);
            Assert.True(ImportErrors.IsTransient(serialization));
        }
        finally
        {
            await ExecuteAsync(admin, $"DROP TABLE {table}");
            await using var superuser = await OpenAsync(platform.SuperuserConnectionString);
            await ExecuteAsync(superuser, $"DROP ROLE {role}");
        }
        // The database starting up answers new connections with 57P03; it cannot be provoked on a running server.
        Assert.True(ImportErrors.IsTransient(new PostgresException("the database system is starting up", "FATAL", "FATAL", "57P03")));
    }
}
