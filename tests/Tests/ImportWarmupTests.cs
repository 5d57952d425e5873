using Dapper;
using DatasetPlatform.Grains.Hosting;
using DatasetPlatform.Grains.Import;
using DatasetPlatform.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace DatasetPlatform.Tests;

/// <summary>
/// The import warm-up a silo runs when it starts (DP_IMPORT_WARMUP_ROWS): its generated rows go through the real import path
/// without a failure, and it writes nothing. A warm-up that broke (say, a parsing rule its rows no longer meet) would only
/// log a warning and leave every first import cold, so these tests are what notices.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class ImportWarmupTests(PlatformFixture platform)
{
    [Fact]
    public void The_service_under_test_warmed_up_at_start_without_a_warning()
    {
        Assert.DoesNotContain(platform.Logs.Entries, e => e.Category == typeof(ImportWarmup).FullName);
    }

    [Fact]
    public async Task The_warm_up_loads_its_generated_rows_through_the_import_path_and_leaves_nothing()
    {
        // One connection, not reset when it goes back (as the service's main pool): what the warm-up left in its session stays.
        await using var dataSource = PlatformHosting.CreateDataSource(platform.ConnectionString, maxPoolSize: 1, leavesNoSessionState: true);
        var logs = new LogSinkLogger();
        var warmup = new ImportWarmup(dataSource, Options.Create(new ImportLimits { WarmupRows = 5_000 }), logs);
        await warmup.Execute(CancellationToken.None);

        var entry = Assert.Single(logs.Entries, e => e.Level >= LogLevel.Information);
        Assert.Equal(LogLevel.Information, entry.Level);
        Assert.StartsWith("Import path warmed up with 5000 generated rows per pass, 3 passes", entry.Message, StringComparison.Ordinal);
        // Its table was temporary, in a transaction it rolled back: the session it ran in has none left.
        Assert.Equal(0L, await CountStageTablesInPooledSessionAsync(dataSource));
    }

    [Fact]
    public async Task The_generated_file_is_the_size_asked_for_and_ends_with_a_full_line()
    {
        using var file = new GeneratedCsvStream(ImportWarmup.GeneratedLines(1_000));
        using var reader = new StreamReader(file);
        var text = await reader.ReadToEndAsync();
        var lines = text.Split('\n');
        Assert.Equal(1_002, lines.Length); // the header, 1,000 rows, and nothing after the last newline
        Assert.Equal("", lines[^1]);
        Assert.StartsWith("Date,Country,", lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_warm_up_turned_off_does_nothing()
    {
        await using var dataSource = NpgsqlDataSource.Create("Host=127.0.0.1;Port=1;Timeout=1"); // nothing listens there
        var logs = new LogSinkLogger();
        await new ImportWarmup(dataSource, Options.Create(new ImportLimits { WarmupRows = 0 }), logs).Execute(CancellationToken.None);
        Assert.Empty(logs.Entries);
    }

    private static async Task<long> CountStageTablesInPooledSessionAsync(NpgsqlDataSource dataSource)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.ExecuteScalarAsync<long>(
            "SELECT count(*) FROM pg_class WHERE relname = 'dp_stage' AND relnamespace = pg_my_temp_schema()");
    }

    /// <summary>Everything the warm-up logs, information included.</summary>
    private sealed class LogSinkLogger : ILogger<ImportWarmup>
    {
        public List<LogEntry> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add(new LogEntry(typeof(ImportWarmup).FullName!, logLevel, formatter(state, exception), exception));
    }
}
