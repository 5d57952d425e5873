using System.Diagnostics;

namespace DatasetPlatform.LoadTest;

public sealed record CopyBaselineResult(long RowsPerStream, double Seconds, double RowsPerSecond, long Bytes, string? Error);

/// <summary>
/// The machine's reference: two `psql \copy` streams at once, each loading an equivalent CSV (the Alphacast files' columns, typed: date,
/// text, 6 x double precision) into its own plain table of the same PostgreSQL. Aggregate rows/s of the run is compared with theirs.
/// </summary>
public static class CopyBaseline
{
    private const string Columns = "d date, e text, v1 float8, v2 float8, v3 float8, v4 float8, v5 float8, v6 float8";

    public static async Task<CopyBaselineResult> RunAsync(PsqlSettings psql, long rowsPerStream, CancellationToken cancellationToken)
    {
        string[] tables = ["lt_copy_a", "lt_copy_b"];
        try
        {
            foreach (var table in tables) await PsqlAsync(psql, $"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} ({Columns})", cancellationToken);
            var watch = Stopwatch.StartNew();
            var streams = await Task.WhenAll(tables.Select((table, i) => CopyAsync(psql, table, i, rowsPerStream, cancellationToken)));
            var seconds = watch.Elapsed.TotalSeconds;
            return new CopyBaselineResult(rowsPerStream, seconds, 2 * rowsPerStream / seconds, streams.Sum(), null);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or IOException)
        {
            return new CopyBaselineResult(rowsPerStream, 0, 0, 0, e.Message);
        }
        finally
        {
            foreach (var table in tables)
            {
                try { await PsqlAsync(psql, $"DROP TABLE IF EXISTS {table}", CancellationToken.None); }
                catch (InvalidOperationException) { }
            }
        }
    }

    private static async Task<long> CopyAsync(PsqlSettings psql, string table, int stream, long rows, CancellationToken cancellationToken)
    {
        using var process = psql.StartPsql($"\\copy {table} FROM pstdin WITH (FORMAT csv, HEADER true)", "-q", redirectInput: true);
        // Keys far from the datasets' (stream 0: [0, rows), stream 1: [rows, 2 rows)), generated while they are sent, like the uploads.
        var values = new RowValues(1_000_000 + stream, (int)Math.Min(rows, int.MaxValue));
        var counting = new GeneratedContent((target, ct) => GeneratedFiles.WriteKeyedCsvAsync(target, values, 0, stream * rows, rows, ct), "text/csv");
        await using (var input = process.StandardInput.BaseStream)
        {
            await counting.CopyToAsync(input, cancellationToken);
        }
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0) throw new InvalidOperationException($"psql \\copy into {table} exited {process.ExitCode}: {await process.StandardError.ReadToEndAsync(cancellationToken)}");
        return counting.BytesWritten;
    }

    private static async Task PsqlAsync(PsqlSettings psql, string sql, CancellationToken cancellationToken)
    {
        using var process = psql.StartPsql(sql, "-q");
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0) throw new InvalidOperationException($"psql exited {process.ExitCode}: {await process.StandardError.ReadToEndAsync(cancellationToken)}");
    }
}
