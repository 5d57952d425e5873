using System.Globalization;
using System.Text.Json.Nodes;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Grains.Storage;
using Microsoft.Extensions.Options;
using Npgsql;

namespace DatasetPlatform.Grains.Analysis;

/// <summary>
/// Per-column statistics of one version, following pandas conventions (API.md): sample std (ddof 1), linear-interpolated
/// percentiles, bias-corrected skewness and excess kurtosis, numpy-style 10-bin histograms, Tukey outliers, Pearson
/// correlations over pairwise non-null values. Everything runs in PostgreSQL: two passes for numeric columns (moments
/// need the mean), one GROUP BY per categorical column for its top values, one for duplicate rows. Aggregates over many
/// columns go in groups, so every accepted width stays within PostgreSQL's limits per statement (1664 result columns,
/// 100 function arguments) and a statement never holds more than a few dozen sorts at once.
/// </summary>
public sealed class DatasetAnalyzer(NpgsqlDataSource dataSource, IOptions<ReadOptions> options)
{
    // Columns per statement: in pass 1 each brings up to 7 aggregates, two of them sorts (DISTINCT, percentiles); in pass 2, 14.
    private const int ColumnsPerScan = 25;
    // Correlation pairs per statement, and columns per pg_column_size sum (a chain of additions).
    private const int PairsPerScan = 500;
    private const int ColumnsPerSizeSum = 100;

    public static bool IsNumeric(StoredColumn c) => c.SqlType is "double precision" or "bigint" or "smallint";

    public async Task<JsonObject> AnalyzeAsync(DatasetRow dataset, IReadOnlyList<StoredColumn> columns, int version, int floor,
        CancellationToken cancellationToken = default)
    {
        await using var session = await ReadSession.OpenAsync(dataSource, options.Value, cancellationToken, System.Data.IsolationLevel.RepeatableRead,
            "SET LOCAL work_mem = '256MB'");
        var table = dataset.TableName;
        var where = DataTables.VisibleAt(version, floor);

        // Pass 1: counts, distinct counts, and for numeric columns min/max/mean/std/quartiles.
        long rows = 0;
        var stats = new Dictionary<string, NumericStats>();
        var result = new JsonObject();
        var columnsJson = new JsonObject();
        foreach (var group in columns.Count == 0 ? [[]] : columns.Chunk(ColumnsPerScan).ToList())
        {
            var parts = new List<string> { "count(*)" };
            foreach (var c in group)
            {
                parts.Add($"count({c.Physical})");
                parts.Add($"count(DISTINCT {c.Physical})");
                if (IsNumeric(c))
                {
                    var x = $"{c.Physical}::float8";
                    parts.Add($"min({x})");
                    parts.Add($"max({x})");
                    parts.Add($"avg({x})");
                    parts.Add($"stddev_samp({x})");
                    parts.Add($"percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY {x})");
                }
            }
            await using var command = session.Command($"SELECT {string.Join(", ", parts)} FROM {table} WHERE {where}");
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            rows = reader.GetInt64(0);
            var i = 1;
            foreach (var c in group)
            {
                var nonNull = reader.GetInt64(i++);
                var unique = reader.GetInt64(i++);
                var entry = new JsonObject
                {
                    ["type"] = c.Dtype,
                    ["unique"] = unique,
                    ["missing"] = rows - nonNull,
                    ["missing_percent"] = rows == 0 ? 0.0 : Math.Round(100.0 * (rows - nonNull) / rows, 6),
                };
                if (IsNumeric(c))
                {
                    var s = new NumericStats(nonNull,
                        reader.IsDBNull(i) ? null : reader.GetDouble(i), reader.IsDBNull(i + 1) ? null : reader.GetDouble(i + 1),
                        reader.IsDBNull(i + 2) ? null : reader.GetDouble(i + 2), reader.IsDBNull(i + 3) ? null : reader.GetDouble(i + 3),
                        reader.IsDBNull(i + 4) ? null : (double[])reader.GetValue(i + 4));
                    i += 5;
                    stats[c.Physical] = s;
                }
                columnsJson[c.Name] = entry;
            }
        }

        // Pass 2: central moments, outliers and histogram bins, now that means and quartiles are known; one scan per group.
        var spread = new List<(StoredColumn Column, NumericStats Stats)>();
        foreach (var c in columns.Where(IsNumeric))
        {
            var s = stats[c.Physical];
            var entry = (JsonObject)columnsJson[c.Name]!;
            entry["min"] = s.Min;
            entry["max"] = s.Max;
            entry["mean"] = s.Mean;
            entry["std"] = s.Std;
            if (s.Count > 0 && s.Mean is not null) spread.Add((c, s));
        }
        foreach (var group in spread.Chunk(ColumnsPerScan))
        {
            await using var command = session.Command("");
            var parts = new List<string>();
            for (var k = 0; k < group.Length; k++)
            {
                var (c, s) = group[k];
                var (p25, p75) = (s.Quartiles![0], s.Quartiles[2]);
                var iqr = p75 - p25;
                var (low, high) = Histogram.Range(s.Min!.Value, s.Max!.Value);
                command.Parameters.AddWithValue($"mean{k}", s.Mean!.Value);
                command.Parameters.AddWithValue($"lowFence{k}", p25 - 1.5 * iqr);
                command.Parameters.AddWithValue($"highFence{k}", p75 + 1.5 * iqr);
                command.Parameters.AddWithValue($"low{k}", low);
                command.Parameters.AddWithValue($"high{k}", high);
                var x = $"{c.Physical}::float8";
                parts.Add($"COALESCE(sum(power({x} - @mean{k}, 2)), 0)");
                parts.Add($"COALESCE(sum(power({x} - @mean{k}, 3)), 0)");
                parts.Add($"COALESCE(sum(power({x} - @mean{k}, 4)), 0)");
                parts.Add($"count(*) FILTER (WHERE {x} < @lowFence{k} OR {x} > @highFence{k})");
                // numpy's bins: the last one is closed, so the maximum (bucket 11 of width_bucket) counts in bin 10.
                var bin = $"LEAST(width_bucket({x}, @low{k}, @high{k}, 10), 10)";
                // count(x), not count(*): LEAST ignores nulls, so a missing value would otherwise land in bin 10.
                for (var b = 1; b <= 10; b++) parts.Add($"count({x}) FILTER (WHERE {bin} {(b == 1 ? "<=" : "=")} {b})");
            }
            command.CommandText = $"SELECT {string.Join(", ", parts)} FROM {table} WHERE {where}";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            for (var k = 0; k < group.Length; k++)
            {
                var (c, s) = group[k];
                var i = k * 14;
                var (p25, p50, p75) = (s.Quartiles![0], s.Quartiles[1], s.Quartiles[2]);
                var (low, high) = Histogram.Range(s.Min!.Value, s.Max!.Value);
                var entry = (JsonObject)columnsJson[c.Name]!;
                entry["percentiles"] = new JsonObject { ["p25"] = p25, ["p50"] = p50, ["p75"] = p75 };
                entry["iqr"] = p75 - p25;
                entry["skewness"] = Moments.Skewness(s.Count, reader.GetDouble(i), reader.GetDouble(i + 1));
                entry["kurtosis"] = Moments.Kurtosis(s.Count, reader.GetDouble(i), reader.GetDouble(i + 2));
                entry["outlier_count"] = reader.GetInt64(i + 3);
                entry["histogram"] = new JsonObject
                {
                    ["counts"] = new JsonArray([.. Enumerable.Range(0, 10).Select(b => (JsonNode)reader.GetInt64(i + 4 + b))]),
                    ["bin_edges"] = new JsonArray([.. Histogram.Edges(low, high).Select(e => (JsonNode)e)]),
                };
            }
        }

        // Top values of the non-numeric columns (text, category, bool, dates).
        foreach (var c in columns.Where(c => !IsNumeric(c)))
        {
            var top = new JsonObject();
            await using var command = session.Command(
                $"SELECT {c.Physical}::text, count(*) FROM {table} WHERE {where} AND {c.Physical} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10");
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken)) top[reader.GetString(0)] = reader.GetInt64(1);
            ((JsonObject)columnsJson[c.Name]!)["top_values"] = top;
        }

        var duplicates = columns.Count == 0 ? 0 : await Scalar<long>(session,
            DataTables.DuplicateRowsSql(table, where, columns.Select(c => c.Physical)), cancellationToken);
        long bytes = 0;
        if (columns.Count > 0)
        {
            var sums = columns.Chunk(ColumnsPerSizeSum).Select(g =>
                $"COALESCE(sum({string.Join(" + ", g.Select(c => $"COALESCE(pg_column_size({c.Physical}), 0)"))}), 0)::bigint");
            await using var command = session.Command($"SELECT {string.Join(", ", sums)} FROM {table} WHERE {where}");
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            for (var i = 0; i < reader.FieldCount; i++) bytes += reader.GetInt64(i);
        }

        result["columns"] = columnsJson;
        result["row_count"] = rows;
        result["duplicate_rows"] = duplicates;
        result["memory_usage"] = Math.Round(bytes / 1024.0 / 1024.0, 2);
        result["correlations"] = await CorrelationsAsync(session, table, where, [.. columns.Where(IsNumeric)], stats, cancellationToken);
        return result;
    }

    /// <summary>
    /// Pearson correlations of every pair of the first <see cref="ReadOptions.MaxCorrelationColumns"/> numeric columns
    /// (the pairs grow with the square of the width), a few hundred pairs per statement.
    /// </summary>
    private async Task<JsonObject> CorrelationsAsync(ReadSession session, string table, string where, List<StoredColumn> numericColumns,
        Dictionary<string, NumericStats> stats, CancellationToken cancellationToken)
    {
        var correlations = new JsonObject();
        var numeric = numericColumns.Take(options.Value.MaxCorrelationColumns).ToList();
        if (numeric.Count == 0) return correlations;
        var values = new Dictionary<(int A, int B), double?>();
        var pairs = new List<(int A, int B)>();
        for (var a = 0; a < numeric.Count; a++)
            for (var b = a + 1; b < numeric.Count; b++) pairs.Add((a, b));
        foreach (var group in pairs.Chunk(PairsPerScan))
        {
            await using var command = session.Command(
                $"SELECT {string.Join(", ", group.Select(p => $"corr({numeric[p.A].Physical}::float8, {numeric[p.B].Physical}::float8)"))} FROM {table} WHERE {where}");
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            for (var i = 0; i < group.Length; i++) values[group[i]] = reader.IsDBNull(i) ? null : reader.GetDouble(i);
        }
        for (var a = 0; a < numeric.Count; a++)
        {
            var row = new JsonObject();
            for (var b = 0; b < numeric.Count; b++)
                row[numeric[b].Name] = a == b ? (stats[numeric[a].Physical].Count > 1 ? 1.0 : null) : values[(Math.Min(a, b), Math.Max(a, b))];
            correlations[numeric[a].Name] = row;
        }
        return correlations;
    }

    private static async Task<T> Scalar<T>(ReadSession session, string sql, CancellationToken cancellationToken)
    {
        await using var command = session.Command(sql);
        return (T)Convert.ChangeType((await command.ExecuteScalarAsync(cancellationToken))!, typeof(T), CultureInfo.InvariantCulture);
    }

    private sealed record NumericStats(long Count, double? Min, double? Max, double? Mean, double? Std, double[]? Quartiles);
}

/// <summary>Bias-corrected sample skewness and excess kurtosis, as pandas' Series.skew() and Series.kurt().</summary>
public static class Moments
{
    /// <param name="m2">Sum of squared deviations from the mean.</param>
    /// <param name="m3">Sum of cubed deviations.</param>
    public static double? Skewness(long n, double m2, double m3)
    {
        if (n < 3 || m2 == 0) return n < 3 ? null : 0;
        var g1 = (m3 / n) / Math.Pow(m2 / n, 1.5);
        return Math.Sqrt(n * (n - 1.0)) / (n - 2.0) * g1;
    }

    /// <param name="m4">Sum of fourth powers of deviations.</param>
    public static double? Kurtosis(long n, double m2, double m4)
    {
        if (n < 4 || m2 == 0) return n < 4 ? null : 0;
        var g2 = (m4 / n) / Math.Pow(m2 / n, 2) - 3;
        return ((n + 1.0) * g2 + 6) * (n - 1.0) / ((n - 2.0) * (n - 3.0));
    }
}

/// <summary>numpy.histogram's 10 equal-width bins over [min, max] (a constant column spans min - 0.5 to max + 0.5).</summary>
public static class Histogram
{
    public static (double Low, double High) Range(double min, double max) => min == max ? (min - 0.5, max + 0.5) : (min, max);

    public static double[] Edges(double low, double high) =>
        [.. Enumerable.Range(0, 11).Select(i => i == 10 ? high : low + (high - low) * i / 10)];
}
