using System.Reflection;
using Npgsql;

namespace DatasetPlatform.Grains.Storage;

/// <summary>
/// Applies deploy/sql/*.sql (embedded) in name order. Every script is idempotent; the advisory lock
/// keeps two silos that start together from racing on CREATE statements.
/// </summary>
public static class SchemaBootstrapper
{
    // Arbitrary constant shared by every DatasetPlatform process.
    private const long SchemaLockId = 0x44505F534348454D; // "DP_SCHEM"

    public static async Task ApplyAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using (var lockCommand = new NpgsqlCommand($"SELECT pg_advisory_lock({SchemaLockId})", connection))
            await lockCommand.ExecuteNonQueryAsync(cancellationToken);
        try
        {
            foreach (var (name, sql) in Scripts())
            {
                await using var command = new NpgsqlCommand(sql, connection);
                try { await command.ExecuteNonQueryAsync(cancellationToken); }
                catch (PostgresException e) { throw new InvalidOperationException($"Schema script {name} failed: {e.MessageText}", e); }
            }
        }
        finally
        {
            await using var unlock = new NpgsqlCommand($"SELECT pg_advisory_unlock({SchemaLockId})", connection);
            await unlock.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    private static IEnumerable<(string Name, string Sql)> Scripts()
    {
        var assembly = typeof(SchemaBootstrapper).Assembly;
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith("sql/", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var reader = new StreamReader(stream);
            yield return (name, reader.ReadToEnd());
        }
    }
}
