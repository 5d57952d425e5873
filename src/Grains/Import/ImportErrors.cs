using System.Net.Sockets;
using Npgsql;

namespace DatasetPlatform.Grains.Import;

/// <summary>
/// Tells an outage from a mistake. A transient error can go away by itself (the connection or the server went away,
/// the server is starting up or out of connections, a deadlock or serialization failure, a socket or pool timeout), so
/// the import is tried again. Anything else (a bug, a database that does not match the code) would fail the same way
/// every time, so the import fails at once with a reason that names the cause.
/// </summary>
public static class ImportErrors
{
    /// <summary>SQLSTATEs worth another try (class 08, connection exceptions, counts too; see <see cref="IsTransient"/>).</summary>
    private static readonly HashSet<string> TransientStates =
    [
        "40001", // serialization_failure
        "40P01", // deadlock_detected
        "53000", // insufficient_resources
        "53200", // out_of_memory
        "53300", // too_many_connections
        "55P03", // lock_not_available
        "57P01", // admin_shutdown (also what pg_terminate_backend sends)
        "57P02", // crash_shutdown
        "57P03", // cannot_connect_now: the database is starting up or shutting down
        "58030", // io_error
    ];

    public static bool IsTransient(Exception exception) => exception switch
    {
        PostgresException p => p.SqlState.StartsWith("08", StringComparison.Ordinal) || TransientStates.Contains(p.SqlState),
        // Npgsql's own errors: transient when the socket failed or timed out, or when the pool had no connection in time.
        NpgsqlException n => n.IsTransient || n.InnerException is IOException or SocketException or TimeoutException,
        SocketException or TimeoutException => true,
        // A silo stopping under a running import disposes the data source (or cancels): the job must wait, not fail.
        ObjectDisposedException or OperationCanceledException => true,
        // The staged bytes are in a store this process cannot reach (a staging directory it does not share): another silo
        // may, and the configuration can be fixed; failing would lose an acknowledged upload.
        Storage.StagedFileUnavailableException => true,
        _ => false,
    };

    /// <summary>
    /// The cause in a form fit for a job's reason: the SQLSTATE and PostgreSQL's message, or the exception's type and message;
    /// never a stack trace, a statement or a connection string.
    /// </summary>
    public static string Describe(Exception exception)
    {
        var text = exception is PostgresException p ? $"{p.SqlState} {p.MessageText}" : $"{exception.GetType().Name}: {exception.Message}";
        return text.Length <= 300 ? text : string.Concat(text.AsSpan(0, 297), "...");
    }
}
