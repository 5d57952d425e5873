using Npgsql;

namespace DatasetPlatform.Grains.Storage;

/// <summary>
/// The connection and transaction of one read: the statement timeout of <see cref="ReadOptions"/> is set on it, and every
/// command made through it carries a client-side timeout just above that, so the server's timeout (a clear error) fires
/// first. Cancelling the token given to its commands makes Npgsql cancel the running statement on the server.
/// </summary>
public sealed class ReadSession : IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private DateTime _transactionStart;

    private ReadSession(NpgsqlDataSource dataSource, NpgsqlConnection connection, NpgsqlTransaction transaction, int timeoutSeconds)
    {
        _dataSource = dataSource;
        Connection = connection;
        Transaction = transaction;
        TimeoutSeconds = timeoutSeconds;
    }

    public NpgsqlConnection Connection { get; }
    public NpgsqlTransaction Transaction { get; }
    public int TimeoutSeconds { get; }

    public static async Task<ReadSession> OpenAsync(NpgsqlDataSource dataSource, ReadOptions options, CancellationToken cancellationToken,
        System.Data.IsolationLevel isolation = System.Data.IsolationLevel.ReadCommitted, string extraSettings = "", string? snapshot = null)
    {
        // A snapshot id is PostgreSQL's own text (pg_export_snapshot), never user text; checked anyway, since it is spliced in.
        if (snapshot is not null && !System.Text.RegularExpressions.Regex.IsMatch(snapshot, "^[0-9A-F-]+$"))
            throw new ArgumentException($"Not a snapshot id: {snapshot}", nameof(snapshot));
        var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
            var transaction = await connection.BeginTransactionAsync(isolation, cancellationToken);
            var session = new ReadSession(dataSource, connection, transaction, options.StatementTimeoutSeconds);
            // The figure is an integer from configuration, never user text. now() is the transaction's start, which tells
            // this transaction apart from a later one on the same (pooled) backend; see CancelOnServerWhen.
            // SET TRANSACTION SNAPSHOT must come before the transaction's first query (Npgsql sends BEGIN with this command).
            var useSnapshot = snapshot is null ? "" : $"SET TRANSACTION SNAPSHOT '{snapshot}'; ";
            await using var command = session.Command($"{useSnapshot}SELECT now(); SET LOCAL statement_timeout = '{options.StatementTimeoutSeconds}s'; {extraSettings}");
            session._transactionStart = (DateTime)(await command.ExecuteScalarAsync(cancellationToken))!;
            return session;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    public NpgsqlCommand Command(string sql) => new(sql, Connection, Transaction) { CommandTimeout = TimeoutSeconds + 30 };

    public NpgsqlBatch Batch() => new(Connection, Transaction) { Timeout = TimeoutSeconds + 30 };

    /// <summary>
    /// Cancels this session's running statement in PostgreSQL when <paramref name="cancellationToken"/> fires; dispose the
    /// result before the session. Npgsql's own cancellation of a COPY only drops the connection, which leaves a backend
    /// that is waiting (on a lock, or on a sort before its first row) running until it next writes; this asks PostgreSQL
    /// itself, for this backend and this transaction only, so a pooled backend already serving someone else is never hit.
    /// </summary>
    public CancellationTokenRegistration CancelOnServerWhen(CancellationToken cancellationToken)
    {
        var pid = Connection.ProcessID;
        var start = _transactionStart;
        return cancellationToken.Register(() => _ = CancelOnServerAsync(_dataSource, pid, start));
    }

    private static async Task CancelOnServerAsync(NpgsqlDataSource dataSource, int pid, DateTime transactionStart)
    {
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            await using var command = new NpgsqlCommand(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid = @pid AND xact_start = @start AND state = 'active'", connection);
            command.Parameters.AddWithValue("pid", pid);
            command.Parameters.AddWithValue("start", transactionStart);
            await command.ExecuteNonQueryAsync();
        }
        catch (NpgsqlException)
        {
            // Best effort: the statement ends anyway once the backend writes to the dropped connection or times out.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Transaction.DisposeAsync();
        await Connection.DisposeAsync();
    }
}
