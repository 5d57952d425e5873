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

        await using var session = await ReadSession.OpenAsync(dataSource, options.Value, cancellationToken, System.Data.IsolationLevel.RepeatableRead);
        foreach (var a in c1)
        {
            if (!byName2.TryGetValue(ColumnNames.Key(a.Name), out var b)) continue;
            if (a.Dtype != b.Dtype)
                typeChanged.Add(new JsonObject { ["column"] = a.Name, ["v1_type"] = a.Dtype, ["v2_type"] = b.Dtype });
            if (DatasetAnalyzer.IsNumeric(a) && DatasetAnalyzer.IsNumeric(b))
                diffs[a.Name] = await NumericDiffAsync(session, dataset.TableName, a, first.Version, b, second.Version, cancellationToken);
            else if (!DatasetAnalyzer.IsNumeric(a) && !DatasetAnalyzer.IsNumeric(b))
                diffs[a.Name] = await CategoricalDiffAsync(session, dataset.TableName, a, first.Version, b, second.Version, cancellationToken);
        }
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

    private static async Task<JsonObject> NumericDiffAsync(ReadSession session, string table,
        StoredColumn a, int v1, StoredColumn b, int v2, CancellationToken cancellationToken)
    {
        var s1 = await MomentsAsync(session, table, a, v1, withDeciles: true, cancellationToken);
        var s2 = await MomentsAsync(session, table, b, v2, withDeciles: false, cancellationToken);
        // v1's deciles are the bin edges (repeated edges collapse, as with discrete values).
        var edges = (s1.Deciles ?? []).Distinct().ToArray();
        var p1 = await BinSharesAsync(session, table, a, v1, edges, cancellationToken);
        var p2 = await BinSharesAsync(session, table, b, v2, edges, cancellationToken);
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

    private static async Task<ColumnMoments> MomentsAsync(ReadSession session, string table, StoredColumn c,
        int version, bool withDeciles, CancellationToken cancellationToken)
    {
        var x = $"{c.Physical}::float8";
        var deciles = withDeciles ? $", percentile_cont(ARRAY[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]) WITHIN GROUP (ORDER BY {x})" : "";
        await using var command = session.Command($"SELECT avg({x}), stddev_samp({x}), count(*), count({c.Physical}){deciles} FROM {table} WHERE {DataTables.VisibleAt(version)}");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var rows = reader.GetInt64(2);
        return new ColumnMoments(
            reader.IsDBNull(0) ? null : reader.GetDouble(0), reader.IsDBNull(1) ? null : reader.GetDouble(1),
            rows == 0 ? 0 : (double)(rows - reader.GetInt64(3)) / rows,
            withDeciles && !reader.IsDBNull(4) ? (double[])reader.GetValue(4) : null);
    }

    /// <summary>Share of non-null values in each bin: below the first edge, between consecutive edges, from the last edge up.</summary>
    private static async Task<double[]> BinSharesAsync(ReadSession session, string table, StoredColumn c,
        int version, double[] edges, CancellationToken cancellationToken)
    {
        var counts = new long[edges.Length + 1];
        await using var command = session.Command($"SELECT width_bucket({c.Physical}::float8, @edges), count(*) FROM {table} WHERE {DataTables.VisibleAt(version)} AND {c.Physical} IS NOT NULL GROUP BY 1");
        command.Parameters.AddWithValue("edges", edges);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) counts[reader.GetInt32(0)] += reader.GetInt64(1);
        var total = counts.Sum();
        return [.. counts.Select(n => total == 0 ? 0 : (double)n / total)];
    }

    private static async Task<JsonObject> CategoricalDiffAsync(ReadSession session, string table,
        StoredColumn a, int v1, StoredColumn b, int v2, CancellationToken cancellationToken)
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
        string table, StoredColumn c, int version, CancellationToken cancellationToken)
    {
        var where = DataTables.VisibleAt(version);
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
