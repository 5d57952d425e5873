using System.Globalization;
using System.Text.Json.Nodes;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Grains.Storage;
using Npgsql;

namespace DatasetPlatform.Grains.Analysis;

/// <summary>
/// Per-column statistics of one version, following pandas conventions (API.md): sample std (ddof 1), linear-interpolated
/// percentiles, bias-corrected skewness and excess kurtosis, numpy-style 10-bin histograms, Tukey outliers, Pearson
/// correlations over pairwise non-null values. Everything runs in PostgreSQL: two passes for numeric columns (moments
/// need the mean), one GROUP BY per categorical column for its top values, one for duplicate rows.
/// </summary>
public sealed class DatasetAnalyzer(NpgsqlDataSource dataSource)
{
    public static bool IsNumeric(StoredColumn c) => c.SqlType is "double precision" or "bigint" or "smallint";

    public async Task<JsonObject> AnalyzeAsync(DatasetRow dataset, IReadOnlyList<StoredColumn> columns, int version)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead);
        await Exec(connection, transaction, "SET LOCAL work_mem = '256MB'");
        var table = dataset.TableName;
        var where = DataTables.VisibleAt(version);

        // Pass 1: counts, distinct counts, and for numeric columns min/max/mean/std/quartiles.
        var parts = new List<string> { "count(*)" };
        foreach (var c in columns)
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
        long rows;
        var stats = new Dictionary<string, NumericStats>();
        var result = new JsonObject();
        var columnsJson = new JsonObject();
        await using (var command = new NpgsqlCommand($"SELECT {string.Join(", ", parts)} FROM {table} WHERE {where}", connection, transaction))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            await reader.ReadAsync();
            rows = reader.GetInt64(0);
            var i = 1;
            foreach (var c in columns)
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

        // Pass 2: central moments, outliers and histogram bins, now that means and quartiles are known.
        foreach (var c in columns.Where(IsNumeric))
        {
            var s = stats[c.Physical];
            var entry = (JsonObject)columnsJson[c.Name]!;
            entry["min"] = s.Min;
            entry["max"] = s.Max;
            entry["mean"] = s.Mean;
            entry["std"] = s.Std;
            if (s.Count == 0 || s.Mean is null) continue;
            var (p25, p50, p75) = (s.Quartiles![0], s.Quartiles[1], s.Quartiles[2]);
            var iqr = p75 - p25;
            entry["percentiles"] = new JsonObject { ["p25"] = p25, ["p50"] = p50, ["p75"] = p75 };
            entry["iqr"] = iqr;
            var x = $"{c.Physical}::float8";
            var (low, high) = Histogram.Range(s.Min!.Value, s.Max!.Value);
            double m2, m3, m4;
            long outliers;
            await using (var moments = new NpgsqlCommand(
                $"""
                SELECT COALESCE(sum(power({x} - @mean, 2)), 0), COALESCE(sum(power({x} - @mean, 3)), 0), COALESCE(sum(power({x} - @mean, 4)), 0),
                       count(*) FILTER (WHERE {x} < @lowFence OR {x} > @highFence)
                FROM {table} WHERE {where} AND {c.Physical} IS NOT NULL
                """, connection, transaction))
            {
                moments.Parameters.AddWithValue("mean", s.Mean.Value);
                moments.Parameters.AddWithValue("lowFence", p25 - 1.5 * iqr);
                moments.Parameters.AddWithValue("highFence", p75 + 1.5 * iqr);
                await using var reader = await moments.ExecuteReaderAsync();
                await reader.ReadAsync();
                (m2, m3, m4, outliers) = (reader.GetDouble(0), reader.GetDouble(1), reader.GetDouble(2), reader.GetInt64(3));
            }
            entry["skewness"] = Moments.Skewness(s.Count, m2, m3);
            entry["kurtosis"] = Moments.Kurtosis(s.Count, m2, m4);
            entry["outlier_count"] = outliers;

            var counts = new long[10];
            await using (var histogram = new NpgsqlCommand(
                $"SELECT LEAST(width_bucket({x}, @low, @high, 10), 10), count(*) FROM {table} WHERE {where} AND {c.Physical} IS NOT NULL GROUP BY 1",
                connection, transaction))
            {
                histogram.Parameters.AddWithValue("low", low);
                histogram.Parameters.AddWithValue("high", high);
                await using var reader = await histogram.ExecuteReaderAsync();
                while (await reader.ReadAsync()) counts[Math.Clamp(reader.GetInt32(0), 1, 10) - 1] += reader.GetInt64(1);
            }
            entry["histogram"] = new JsonObject
            {
                ["counts"] = new JsonArray([.. counts.Select(n => (JsonNode)n)]),
                ["bin_edges"] = new JsonArray([.. Histogram.Edges(low, high).Select(e => (JsonNode)e)]),
            };
        }

        // Top values of the non-numeric columns (text, category, bool, dates).
        foreach (var c in columns.Where(c => !IsNumeric(c)))
        {
            var top = new JsonObject();
            await using var command = new NpgsqlCommand(
                $"SELECT {c.Physical}::text, count(*) FROM {table} WHERE {where} AND {c.Physical} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
                connection, transaction);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync()) top[reader.GetString(0)] = reader.GetInt64(1);
            ((JsonObject)columnsJson[c.Name]!)["top_values"] = top;
        }

        var duplicates = columns.Count == 0 ? 0 : await Scalar<long>(connection, transaction,
            DataTables.DuplicateRowsSql(table, where, columns.Select(c => c.Physical)));
        var bytes = columns.Count == 0 ? 0 : await Scalar<long>(connection, transaction,
            $"SELECT COALESCE(sum({string.Join(" + ", columns.Select(c => $"COALESCE(pg_column_size({c.Physical}), 0)"))}), 0)::bigint FROM {table} WHERE {where}");

        var correlations = new JsonObject();
        var numeric = columns.Where(IsNumeric).ToList();
        if (numeric.Count > 0)
        {
            var pairs = new List<(StoredColumn A, StoredColumn B)>();
            for (var a = 0; a < numeric.Count; a++)
                for (var b = a + 1; b < numeric.Count; b++) pairs.Add((numeric[a], numeric[b]));
            var values = new double?[pairs.Count];
            if (pairs.Count > 0)
            {
                await using var command = new NpgsqlCommand(
                    $"SELECT {string.Join(", ", pairs.Select(p => $"corr({p.A.Physical}::float8, {p.B.Physical}::float8)"))} FROM {table} WHERE {where}",
                    connection, transaction);
                await using var reader = await command.ExecuteReaderAsync();
                await reader.ReadAsync();
                for (var i = 0; i < pairs.Count; i++) values[i] = reader.IsDBNull(i) ? null : reader.GetDouble(i);
            }
            foreach (var a in numeric)
            {
                var row = new JsonObject();
                foreach (var b in numeric)
                {
                    if (a == b) { row[b.Name] = stats[a.Physical].Count > 1 ? 1.0 : null; continue; }
                    var index = pairs.FindIndex(p => (p.A == a && p.B == b) || (p.A == b && p.B == a));
                    row[b.Name] = values[index];
                }
                correlations[a.Name] = row;
            }
        }

        result["columns"] = columnsJson;
        result["row_count"] = rows;
        result["duplicate_rows"] = duplicates;
        result["memory_usage"] = Math.Round(bytes / 1024.0 / 1024.0, 2);
        result["correlations"] = correlations;
        return result;
    }

    private static async Task Exec(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<T> Scalar<T>(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        return (T)Convert.ChangeType((await command.ExecuteScalarAsync())!, typeof(T), CultureInfo.InvariantCulture);
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
