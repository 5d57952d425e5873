using System.Text.Json.Nodes;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Grains.Storage;
using Microsoft.Extensions.Options;
using Npgsql;

namespace DatasetPlatform.Grains.Analysis;

/// <summary>
/// Schema and distribution drift between two versions of a dataset. Numeric columns: means, stds, missing shares and
/// the PSI over v1's decile bins (shares floored at 0.0001); categorical columns: category shares and their PSI.
/// PSI below 0.1 is low drift, 0.1 to 0.25 moderate, above 0.25 high.
/// </summary>
public sealed class VersionComparer(NpgsqlDataSource dataSource, IOptions<ReadOptions> options)
{
    private const double ShareFloor = 0.0001;
    private const int MaxCategories = 50;
    // Numeric columns per statement: 4 aggregates (one of them a sort) or up to 10 bin counts each.
    private const int ColumnsPerScan = 25;

    public static string ShiftLevel(double psi) => psi < 0.1 ? "low" : psi <= 0.25 ? "moderate" : "high";

    public static double Psi(IReadOnlyList<double> expected, IReadOnlyList<double> actual) =>
        expected.Zip(actual, (p1, p2) => (P1: Math.Max(p1, ShareFloor), P2: Math.Max(p2, ShareFloor))).Sum(p => (p.P2 - p.P1) * Math.Log(p.P2 / p.P1));

    public async Task<JsonObject> CompareAsync(DatasetRow dataset, VersionRow first, VersionRow second, CancellationToken cancellationToken = default)
    {
        var c1 = StoredColumns.FromJson(first.Columns);
        var c2 = StoredColumns.FromJson(second.Columns);
        var byName2 = c2.ToDictionary(c => ColumnNames.Key(c.Name));
        var byName1 = c1.ToDictionary(c => ColumnNames.Key(c.Name));
        var typeChanged = new JsonArray();
        var diffs = new JsonObject();

        var numericPairs = new List<(StoredColumn A, StoredColumn B)>();
        var categoricalPairs = new List<(StoredColumn A, StoredColumn B)>();
        foreach (var a in c1)
        {
            if (!byName2.TryGetValue(ColumnNames.Key(a.Name), out var b)) continue;
            if (a.Dtype != b.Dtype)
                typeChanged.Add(new JsonObject { ["column"] = a.Name, ["v1_type"] = a.Dtype, ["v2_type"] = b.Dtype });
            if (DatasetAnalyzer.IsNumeric(a) && DatasetAnalyzer.IsNumeric(b)) numericPairs.Add((a, b));
            else if (!DatasetAnalyzer.IsNumeric(a) && !DatasetAnalyzer.IsNumeric(b)) categoricalPairs.Add((a, b));
        }

        await using var session = await ReadSession.OpenAsync(dataSource, options.Value, cancellationToken, System.Data.IsolationLevel.RepeatableRead);
        var computed = new Dictionary<string, JsonObject>();
        // Numeric columns in groups: four scans per group whatever its size, instead of four per column.
        foreach (var group in numericPairs.Chunk(ColumnsPerScan))
        {
            var s1 = await MomentsAsync(session, dataset.TableName, [.. group.Select(p => p.A)], first, withDeciles: true, cancellationToken);
            var s2 = await MomentsAsync(session, dataset.TableName, [.. group.Select(p => p.B)], second, withDeciles: false, cancellationToken);
            // v1's deciles are the bin edges (repeated edges collapse, as with discrete values).
            var edges = s1.Select(m => (m.Deciles ?? []).Distinct().ToArray()).ToArray();
            var p1 = await BinSharesAsync(session, dataset.TableName, [.. group.Select(p => p.A)], first, edges, cancellationToken);
            var p2 = await BinSharesAsync(session, dataset.TableName, [.. group.Select(p => p.B)], second, edges, cancellationToken);
            for (var k = 0; k < group.Length; k++) computed[group[k].A.Name] = NumericDiff(s1[k], s2[k], p1[k], p2[k]);
        }
        foreach (var (a, b) in categoricalPairs)
            computed[a.Name] = await CategoricalDiffAsync(session, dataset.TableName, a, first, b, second, cancellationToken);
        foreach (var a in c1)
            if (computed.TryGetValue(a.Name, out var diff)) diffs[a.Name] = diff;
        return new JsonObject
        {
            ["summary"] = new JsonObject
            {
                ["v1"] = first.Version,
                ["v2"] = second.Version,
                ["v1_rows"] = first.RowCount,
                ["v2_rows"] = second.RowCount,
                ["rows_diff"] = second.RowCount - first.RowCount,
                ["v1_columns"] = first.ColumnCount,
                ["v2_columns"] = second.ColumnCount,
                ["columns_added"] = new JsonArray([.. c2.Where(c => !byName1.ContainsKey(ColumnNames.Key(c.Name))).Select(c => (JsonNode)c.Name)]),
                ["columns_removed"] = new JsonArray([.. c1.Where(c => !byName2.ContainsKey(ColumnNames.Key(c.Name))).Select(c => (JsonNode)c.Name)]),
                ["columns_type_changed"] = typeChanged,
            },
            ["column_diffs"] = diffs,
        };
    }

    private static JsonObject NumericDiff(ColumnMoments s1, ColumnMoments s2, double[] p1, double[] p2)
    {
        var psi = Psi(p1, p2);
        return new JsonObject
        {
            ["type"] = "numeric",
            ["v1_mean"] = s1.Mean,
            ["v2_mean"] = s2.Mean,
            ["v1_std"] = s1.Std,
            ["v2_std"] = s2.Std,
            ["missing_v1"] = s1.MissingShare,
            ["missing_v2"] = s2.MissingShare,
            ["mean_shift_pct"] = s1.Mean is { } m1 && m1 != 0 && s2.Mean is { } m2 ? (m2 - m1) / Math.Abs(m1) * 100 : null,
            ["psi"] = psi,
            ["shift_level"] = ShiftLevel(psi),
        };
    }

    private sealed record ColumnMoments(double? Mean, double? Std, double MissingShare, double[]? Deciles);

    private static async Task<ColumnMoments[]> MomentsAsync(ReadSession session, string table, StoredColumn[] columns, VersionRow version, bool withDeciles,
        CancellationToken cancellationToken)
    {
        var parts = columns.Select(c =>
        {
            var x = $"{c.Physical}::float8";
            var deciles = withDeciles ? $", percentile_cont(ARRAY[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]) WITHIN GROUP (ORDER BY {x})" : "";
            return $"avg({x}), stddev_samp({x}), count({c.Physical}){deciles}";
        });
        await using var command = session.Command($"SELECT count(*), {string.Join(", ", parts)} FROM {table} WHERE {DataTables.VisibleAt(version.Version, version.RowFloor)}");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var rows = reader.GetInt64(0);
        var width = withDeciles ? 4 : 3;
        return [.. columns.Select((_, k) =>
        {
            var i = 1 + k * width;
            return new ColumnMoments(
                reader.IsDBNull(i) ? null : reader.GetDouble(i), reader.IsDBNull(i + 1) ? null : reader.GetDouble(i + 1),
                rows == 0 ? 0 : (double)(rows - reader.GetInt64(i + 2)) / rows,
                withDeciles && !reader.IsDBNull(i + 3) ? (double[])reader.GetValue(i + 3) : null);
        })];
    }

    /// <summary>Share of non-null values in each bin: below the first edge, between consecutive edges, from the last edge up.</summary>
    private static async Task<double[][]> BinSharesAsync(ReadSession session, string table, StoredColumn[] columns, VersionRow version, double[][] edges,
        CancellationToken cancellationToken)
    {
        await using var command = session.Command("");
        var parts = new List<string>();
        for (var k = 0; k < columns.Length; k++)
        {
            command.Parameters.AddWithValue($"edges{k}", edges[k]);
            for (var bin = 0; bin <= edges[k].Length; bin++)
                parts.Add($"count(*) FILTER (WHERE width_bucket({columns[k].Physical}::float8, @edges{k}) = {bin})");
        }
        command.CommandText = $"SELECT {string.Join(", ", parts)} FROM {table} WHERE {DataTables.VisibleAt(version.Version, version.RowFloor)}";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var shares = new double[columns.Length][];
        var i = 0;
        for (var k = 0; k < columns.Length; k++)
        {
            var counts = new long[edges[k].Length + 1];
            for (var bin = 0; bin < counts.Length; bin++) counts[bin] = reader.GetInt64(i++);
            var total = counts.Sum();
            shares[k] = [.. counts.Select(n => total == 0 ? 0 : (double)n / total)];
        }
        return shares;
    }

    private static async Task<JsonObject> CategoricalDiffAsync(ReadSession session, string table,
        StoredColumn a, VersionRow v1, StoredColumn b, VersionRow v2, CancellationToken cancellationToken)
    {
        var (shares1, missing1) = await CategorySharesAsync(session, table, a, v1, cancellationToken);
        var (shares2, missing2) = await CategorySharesAsync(session, table, b, v2, cancellationToken);
        var categories = shares1.Keys.Union(shares2.Keys).OrderByDescending(k => shares1.GetValueOrDefault(k) + shares2.GetValueOrDefault(k))
            .Take(MaxCategories).ToList();
        var changes = new JsonObject();
        foreach (var category in categories)
        {
            var p1 = shares1.GetValueOrDefault(category);
            var p2 = shares2.GetValueOrDefault(category);
            changes[category] = new JsonObject { ["v1_share"] = p1, ["v2_share"] = p2, ["change"] = p2 - p1 };
        }
        var psi = Psi([.. categories.Select(k => shares1.GetValueOrDefault(k))], [.. categories.Select(k => shares2.GetValueOrDefault(k))]);
        return new JsonObject
        {
            ["type"] = "categorical",
            ["missing_v1"] = missing1,
            ["missing_v2"] = missing2,
            ["new_categories"] = new JsonArray([.. shares2.Keys.Except(shares1.Keys).Order().Select(k => (JsonNode)k)]),
            ["dropped_categories"] = new JsonArray([.. shares1.Keys.Except(shares2.Keys).Order().Select(k => (JsonNode)k)]),
            ["category_changes"] = changes,
            ["psi"] = psi,
            ["shift_level"] = ShiftLevel(psi),
        };
    }

    /// <summary>Shares of the most frequent categories (at most 1000, so a free-text column cannot exhaust memory) and the missing share.</summary>
    private static async Task<(Dictionary<string, double> Shares, double Missing)> CategorySharesAsync(ReadSession session,
        string table, StoredColumn c, VersionRow version, CancellationToken cancellationToken)
    {
        var where = DataTables.VisibleAt(version.Version, version.RowFloor);
        long rows, nonNull;
        await using (var totals = session.Command($"SELECT count(*), count({c.Physical}) FROM {table} WHERE {where}"))
        await using (var reader = await totals.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            (rows, nonNull) = (reader.GetInt64(0), reader.GetInt64(1));
        }
        var shares = new Dictionary<string, double>();
        await using (var command = session.Command($"SELECT {c.Physical}::text, count(*) FROM {table} WHERE {where} AND {c.Physical} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1000"))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken)) shares[reader.GetString(0)] = (double)reader.GetInt64(1) / nonNull;
        }
        return (shares, rows == 0 ? 0 : (double)(rows - nonNull) / rows);
    }
}
