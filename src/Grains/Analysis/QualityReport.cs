using System.Globalization;
using System.Text.Json.Serialization;
using DatasetPlatform.Grains.Import;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Grains.Storage;
using Npgsql;

namespace DatasetPlatform.Grains.Analysis;

public sealed record QualityCheck(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("passed")] bool Passed,
    [property: JsonPropertyName("details")] string Details);

public sealed record Quality(
    [property: JsonPropertyName("overall_score")] double OverallScore,
    [property: JsonPropertyName("checks")] IReadOnlyList<QualityCheck> Checks,
    [property: JsonPropertyName("issues")] IReadOnlyList<string> Issues);

/// <summary>
/// The data quality report of a version, stored with the version. A seed 004 version gets it when it is loaded (inside its
/// transaction) from figures gathered during the COPY (<see cref="FromFiguresAsync"/>); a version of another surface the first
/// time someone asks, with one aggregate pass plus one GROUP BY for duplicate rows (<see cref="ComputeAsync"/>).
/// </summary>
public static class QualityReport
{
    private const double MissingThresholdPercent = 5;
    private const double DuplicateThresholdPercent = 1;

    // Columns per aggregate statement: each takes 3 aggregates, well inside PostgreSQL's 1664 target entries per SELECT.
    private const int ColumnsPerStatement = 200;

    public static async Task<Quality> ComputeAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string table, int version, int floor,
        IReadOnlyList<StoredColumn> columns, IReadOnlyList<InferredColumn>? inferred, CancellationToken cancellationToken = default,
        int commandTimeoutSeconds = 30)
    {
        var where = DataTables.VisibleAt(version, floor);
        long rows = 0;
        var missing = new long[columns.Count];
        var constant = new bool[columns.Count];
        // count(c) per column, and whether min = max (a constant column) without a costly count(DISTINCT); the columns go in
        // groups so that a dataset of any accepted width stays within PostgreSQL's limits per statement.
        var groups = columns.Count == 0 ? [[]] : columns.Select((c, i) => (Column: c, Index: i)).Chunk(ColumnsPerStatement).ToList();
        foreach (var group in groups)
        {
            var aggregates = string.Concat(group.Select(g =>
                $", count({g.Column.Physical}), (min({Comparable(g.Column)}) IS NOT DISTINCT FROM max({Comparable(g.Column)}))"));
            await using var command = new NpgsqlCommand($"SELECT count(*){aggregates} FROM {table} WHERE {where}", connection, transaction)
            {
                CommandTimeout = commandTimeoutSeconds,
            };
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            rows = reader.GetInt64(0);
            for (var j = 0; j < group.Length; j++)
            {
                missing[group[j].Index] = rows - reader.GetInt64(1 + 2 * j);
                constant[group[j].Index] = rows > 0 && reader.GetBoolean(2 + 2 * j);
            }
        }
        var duplicates = columns.Count > 0 ? await DuplicateRowsAsync(connection, transaction, table, where, columns, cancellationToken, commandTimeoutSeconds) : 0;
        return Build(rows, missing, constant, duplicates, columns, inferred);
    }

    /// <summary>
    /// The report of a version just loaded, from the figures gathered while its rows streamed into COPY (<see cref="RowProfile"/>):
    /// no scan of the new version, unless two rows hashed alike, when the database counts the duplicate rows exactly.
    /// </summary>
    internal static async Task<Quality> FromFiguresAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string table, int version, int floor,
        IReadOnlyList<StoredColumn> columns, IReadOnlyList<InferredColumn>? inferred, RowFigures figures, CancellationToken cancellationToken,
        int commandTimeoutSeconds)
    {
        var duplicates = columns.Count > 0 && figures.MayHaveDuplicateRows
            ? await DuplicateRowsAsync(connection, transaction, table, DataTables.VisibleAt(version, floor), columns, cancellationToken, commandTimeoutSeconds)
            : 0;
        return Build(figures.Rows, [.. figures.Nulls], [.. figures.Constant.Select(c => figures.Rows > 0 && c)], duplicates, columns, inferred);
    }

    private static async Task<long> DuplicateRowsAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string table, string where,
        IReadOnlyList<StoredColumn> columns, CancellationToken cancellationToken, int commandTimeoutSeconds)
    {
        await using var command = new NpgsqlCommand(DataTables.DuplicateRowsSql(table, where, columns.Select(c => c.Physical)), connection, transaction)
        {
            CommandTimeout = commandTimeoutSeconds,
        };
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }

    private static Quality Build(long rows, long[] missing, bool[] constant, long duplicates, IReadOnlyList<StoredColumn> columns,
        IReadOnlyList<InferredColumn>? inferred)
    {
        var checks = new List<QualityCheck>();
        double Percent(long n) => rows == 0 ? 0 : 100.0 * n / rows;
        var worst = Enumerable.Range(0, columns.Count).OrderByDescending(i => missing[i]).FirstOrDefault();
        var worstPercent = columns.Count == 0 ? 0 : Percent(missing[worst]);
        checks.Add(new QualityCheck("missing_values", worstPercent <= MissingThresholdPercent,
            columns.Count == 0 || missing[worst] == 0 ? "No missing values" : $"Max {worstPercent:0.##}% missing ({columns[worst].Name})"));
        checks.Add(new QualityCheck("duplicate_rows", Percent(duplicates) <= DuplicateThresholdPercent,
            $"{duplicates} duplicates ({Percent(duplicates):0.##}%)"));
        var empty = columns.Where((_, i) => rows > 0 && missing[i] == rows).Select(c => c.Name).ToList();
        checks.Add(new QualityCheck("empty_columns", empty.Count == 0, empty.Count == 0 ? "No empty columns" : $"Entirely empty: {string.Join(", ", empty)}"));
        var constants = columns.Where((_, i) => constant[i] && missing[i] < rows && rows > 1).Select(c => c.Name).ToList();
        checks.Add(new QualityCheck("constant_columns", constants.Count == 0,
            constants.Count == 0 ? "No constant columns" : $"A single value in: {string.Join(", ", constants)}"));
        var mixed = inferred?.Where(c => c.MixedTypes).Select(c => c.Name).ToList() ?? [];
        checks.Add(new QualityCheck("type_consistency", mixed.Count == 0,
            mixed.Count == 0 ? "Every column holds one kind of value" : $"Mixed kinds of values (read as text) in: {string.Join(", ", mixed)}"));

        // 100, minus 10 per failed check, minus up to 20 for the average share of missing cells.
        var averageMissing = columns.Count == 0 || rows == 0 ? 0 : missing.Average() / rows;
        var score = Math.Clamp(100 - 10 * checks.Count(c => !c.Passed) - 20 * averageMissing, 0, 100);
        return new Quality(Math.Round(score, 1), checks, [.. checks.Where(c => !c.Passed).Select(c => $"{c.Name}: {c.Details}")]);
    }

    // Booleans have no min/max in PostgreSQL; compare them as integers.
    private static string Comparable(StoredColumn c) => c.SqlType == "boolean" ? $"{c.Physical}::int" : c.Physical;
}
