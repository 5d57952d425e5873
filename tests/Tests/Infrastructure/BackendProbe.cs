using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Grains.Storage;
using Npgsql;

namespace DatasetPlatform.Tests.Infrastructure;

/// <summary>Looks at (and into) the PostgreSQL backends that serve a dataset's reads, through pg_stat_activity.</summary>
public static class BackendProbe
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    public static async Task<NpgsqlConnection> OpenAsync(string connectionString)
    {
        var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        return connection;
    }

    public static async Task<T?> ScalarAsync<T>(NpgsqlConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 120 };
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        var result = await command.ExecuteScalarAsync();
        return result is null or DBNull ? default : (T)result;
    }

    /// <summary>
    /// The backend running a statement that starts with <paramref name="prefix"/> on the dataset's table, once one
    /// appears (optionally only once it waits on <paramref name="waitEventType"/>).
    /// </summary>
    public static async Task<int> WaitForAsync(NpgsqlConnection connection, long datasetId, string prefix, string? waitEventType = null)
    {
        var until = DateTime.UtcNow + Deadline;
        while (true)
        {
            var pid = await ScalarAsync<int>(connection,
                """
                SELECT pid FROM pg_stat_activity
                WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()
                  AND query LIKE @prefix || '%' AND query LIKE '%' || @table || '%'
                  AND (@wait = '' OR wait_event_type = @wait)
                LIMIT 1
                """, ("prefix", prefix), ("table", $"{DataTables.QualifiedName(datasetId)} "), ("wait", waitEventType ?? ""));
            if (pid != 0) return pid;
            if (DateTime.UtcNow > until) throw new TimeoutException($"No backend ran '{prefix}...' on dataset {datasetId} in time.");
            await Task.Delay(50);
        }
    }

    /// <summary>Waits until backend <paramref name="pid"/> no longer runs a statement starting with <paramref name="prefix"/>.</summary>
    public static async Task WaitUntilIdleAsync(NpgsqlConnection connection, int pid, string prefix)
    {
        var until = DateTime.UtcNow + Deadline;
        while (await ScalarAsync<bool>(connection,
                   "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = @pid AND state = 'active' AND query LIKE @prefix || '%')",
                   ("pid", pid), ("prefix", prefix)))
        {
            Assert.True(DateTime.UtcNow < until, $"Backend {pid} still runs '{prefix}...' after the client went away.");
            await Task.Delay(50);
        }
    }

    /// <summary>Holds an ACCESS EXCLUSIVE lock on the dataset's table until disposed, so every read of it waits.</summary>
    public static async Task<NpgsqlTransaction> LockTableAsync(NpgsqlConnection holder, long datasetId)
    {
        var transaction = await holder.BeginTransactionAsync();
        await using var command = new NpgsqlCommand($"LOCK TABLE {DataTables.QualifiedName(datasetId)} IN ACCESS EXCLUSIVE MODE", holder, transaction);
        await command.ExecuteNonQueryAsync();
        return transaction;
    }

    /// <summary>
    /// An Alphacast dataset (Date, Country, Note) given <paramref name="rows"/> rows of incompressible ~1 KB notes, added
    /// to version 0 in place: far more than every buffer between PostgreSQL and a client holds, so a download of it is
    /// still running when a test interferes with it.
    /// </summary>
    public static async Task<long> DatasetWithLongRowsAsync(ApiClient api, string connectionString, int rows)
    {
        var id = await api.NewDatasetAsync();
        var process = await api.UploadAndWaitAsync(id, "Date,Country,Note\n2020-01-01,AR,x\n",
            """[{"sourceName":"Date","dataType":"Date","isEntity":true,"dateFormat":"%Y-%m-%d"},{"sourceName":"Country","dataType":"String","isEntity":true},{"sourceName":"Note","dataType":"String"}]""");
        Assert.Equal("Processed", process.GetProperty("status").GetString());
        await using var connection = await OpenAsync(connectionString);
        var columns = StoredColumns.FromJson(await ScalarAsync<string>(connection, "SELECT columns::text FROM dp.datasets WHERE id = @id", ("id", id)));
        string Physical(string name) => columns.Single(c => c.Name == name).Physical;
        await using var insert = new NpgsqlCommand(
            $"""
            INSERT INTO {DataTables.QualifiedName(id)} (_vf, {Physical("Date")}, {Physical("Country")}, {Physical("Note")})
            SELECT 0, date '2021-01-01' + (i % 3000), 'E' || i, (SELECT string_agg(md5(i::text || j::text), '') FROM generate_series(1, 32) j)
            FROM generate_series(1, @rows) i
            """, connection) { CommandTimeout = 120 };
        insert.Parameters.AddWithValue("rows", rows);
        await insert.ExecuteNonQueryAsync();
        return id;
    }
}
