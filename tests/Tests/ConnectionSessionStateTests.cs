using DatasetPlatform.LoadTest;
using DatasetPlatform.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace DatasetPlatform.Tests;

/// <summary>
/// The main connection pool does not reset a connection when it goes back (No Reset On Close: no DISCARD ALL per checkout), so
/// whatever a session keeps would reach the next user of the connection: a setting changed with SET rather than SET LOCAL, a
/// temporary table without ON COMMIT DROP, a session advisory lock, a LISTEN, a prepared statement or an open cursor. After
/// uploads, imports (merges included), downloads and verification through all four doors, every pooled connection is clean.
/// Npgsql's automatic prepared statements (_auto...) are the pool's own: Npgsql tracks them on each connection.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class ConnectionSessionStateTests(PlatformFixture platform)
{
    [Fact]
    public async Task Pooled_connections_keep_no_session_state_after_imports_through_every_door()
    {
        var statuses = new StatusCounts();
        var gateway = new GatewayClient(platform.RawClient(), platform.AdminKey, statuses, "in-process test service");
        var options = new LoadTestOptions(Scenario.Known["smoke"] with { FixedCostSamples = 0 })
            { Timeout = TimeSpan.FromSeconds(90), Target = "test fixture", Silos = "1 (embedded)" };
        var run = await LoadTestRunner.RunAsync(options, [gateway], statuses, TextWriter.Null, CancellationToken.None);
        Assert.True(run.Passed, string.Join("\n", run.Failures()));

        var dataSource = platform.Services.GetRequiredService<NpgsqlDataSource>();
        // The backends of this pool (the service's application name carries its process id): each is handed out again below,
        // idle ones first; a few more checkouts than there are backends reach every one of them.
        await using var probe = new NpgsqlConnection(platform.ConnectionString);
        await probe.OpenAsync();
        var applicationName = new NpgsqlConnectionStringBuilder(dataSource.ConnectionString).ApplicationName
            ?? $"datasetplatform/{Environment.ProcessId}";
        await using var countCommand = new NpgsqlCommand(
            "SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1", probe)
            { Parameters = { new() { Value = applicationName } } };
        var backends = (int)(await countCommand.ExecuteScalarAsync())!;
        Assert.True(backends > 0, $"no backend of the pool '{applicationName}' found");

        var held = new List<NpgsqlConnection>();
        var problems = new List<string>();
        var autoPrepared = 0;
        var names = new List<string>();
        try
        {
            for (var i = 0; i < backends + 2; i++)
            {
                var connection = await dataSource.OpenConnectionAsync();
                held.Add(connection);
                await using var command = new NpgsqlCommand(
                    """
                    SELECT pg_backend_pid(),
                        (SELECT coalesce(string_agg(name || '=' || setting, ', '), '') FROM pg_settings WHERE source = 'session'),
                        (SELECT count(*)::int FROM pg_class WHERE relnamespace = pg_my_temp_schema()),
                        (SELECT count(*)::int FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory'),
                        (SELECT count(*)::int FROM pg_listening_channels()),
                        (SELECT count(*)::int FROM pg_prepared_statements WHERE name <> '' AND name NOT LIKE '\_auto%'),
                        (SELECT count(*)::int FROM pg_cursors WHERE name <> ''),
                        (SELECT count(*)::int FROM pg_prepared_statements WHERE name LIKE '\_auto%'),
                        (SELECT coalesce(string_agg(name, ','), '') FROM pg_prepared_statements)
                    """, connection);
                await using var reader = await command.ExecuteReaderAsync();
                await reader.ReadAsync();
                var pid = reader.GetInt32(0);
                if (reader.GetString(1).Length > 0) problems.Add($"backend {pid}: settings changed for the session: {reader.GetString(1)}");
                if (reader.GetInt32(2) > 0) problems.Add($"backend {pid}: {reader.GetInt32(2)} temporary relations left");
                if (reader.GetInt32(3) > 0) problems.Add($"backend {pid}: {reader.GetInt32(3)} advisory locks held");
                if (reader.GetInt32(4) > 0) problems.Add($"backend {pid}: listening on {reader.GetInt32(4)} channels");
                if (reader.GetInt32(5) > 0) problems.Add($"backend {pid}: {reader.GetInt32(5)} prepared statements");
                if (reader.GetInt32(6) > 0) problems.Add($"backend {pid}: {reader.GetInt32(6)} open cursors");
                autoPrepared += reader.GetInt32(7);
                names.Add(reader.GetString(8));
            }
        }
        finally
        {
            foreach (var connection in held) await connection.DisposeAsync();
        }
        Assert.Empty(problems);
        // The pool's repeated statements are prepared by Npgsql (Max Auto Prepare, PlatformHosting.CreateDataSource).
        Assert.True(autoPrepared > 0, "Npgsql prepared none of the main pool's repeated statements (prepared per backend: " + string.Join(" | ", names) + ")");
    }
}
