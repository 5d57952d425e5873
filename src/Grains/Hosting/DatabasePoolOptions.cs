using Microsoft.Extensions.Configuration;

namespace DatasetPlatform.Grains.Hosting;

/// <summary>
/// How a process shares PostgreSQL connections, so that no kind of work can take them all: Orleans' membership,
/// reminders and grain state get a pool of their own; in the main pool, upload chunk writes and running imports each
/// take a bounded share and the rest of the API keeps at least <see cref="MinReserved"/> connections.
/// Read from the "Database" section (the environment variables named on each property map onto it).
/// </summary>
public sealed class DatabasePoolOptions
{
    /// <summary>Connections the catalog, reads and imports may leave to everything else (health, lists, downloads).</summary>
    public const int MinReserved = 4;

    /// <summary>Most connections of the main pool (DP_DB_POOL_SIZE).</summary>
    public int MaxPoolSize { get; set; } = 40;

    /// <summary>Most connections of Orleans' own pool: membership, reminders, grain state (DP_DB_ORLEANS_POOL_SIZE).</summary>
    public int OrleansPoolSize { get; set; } = 8;

    /// <summary>Most upload chunk writes in flight in this process, each on one connection for one statement (DP_DB_UPLOAD_CONNECTIONS).</summary>
    public int UploadConnections { get; set; } = 6;

    /// <summary>Connections one running import holds at most: its load transaction and the reader of its staged file (plus one spare).</summary>
    public const int ConnectionsPerImport = 3;

    /// <summary>The "Database" section, onto which <see cref="PlatformEnvironment"/> has already mapped the DP_DB_* variables.</summary>
    public static DatabasePoolOptions From(IConfiguration configuration) =>
        configuration.GetSection("Database").Get<DatabasePoolOptions>() ?? new DatabasePoolOptions();

    /// <summary>Refuses to start with sizes that would let uploads and imports take the whole main pool.</summary>
    /// <param name="importSlots">Imports this process may run at once (0 for a gateway without a silo).</param>
    /// <param name="downloadSlots">Downloads this process streams at once, one connection each (0 for a silo without a gateway).</param>
    public void Validate(int importSlots, int downloadSlots = 0)
    {
        if (MaxPoolSize < 1 || OrleansPoolSize < 1 || UploadConnections < 1)
            throw new InvalidOperationException("DP_DB_POOL_SIZE, DP_DB_ORLEANS_POOL_SIZE and DP_DB_UPLOAD_CONNECTIONS must each be at least 1.");
        var left = MaxPoolSize - UploadConnections - importSlots * ConnectionsPerImport - downloadSlots;
        if (left < MinReserved)
            throw new InvalidOperationException(
                $"The database pool is too small for its limits: DP_DB_POOL_SIZE={MaxPoolSize} less DP_DB_UPLOAD_CONNECTIONS={UploadConnections} " +
                $"less {ConnectionsPerImport} per import slot (DP_MAX_CONCURRENT_IMPORTS={importSlots}) less DP_MAX_CONCURRENT_DOWNLOADS={downloadSlots} " +
                $"leaves {left}; the rest of the API needs at least {MinReserved}.");
    }
}
