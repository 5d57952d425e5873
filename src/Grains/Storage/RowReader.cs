using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Dapper;
using DatasetPlatform.Grains.Query;
using DatasetPlatform.Grains.Schema;
using Microsoft.Extensions.Options;
using Npgsql;

namespace DatasetPlatform.Grains.Storage;

/// <summary>Xlsx: rows read with their native types (see <see cref="RowReader.ExportXlsxAsync"/>).</summary>
public enum RowFormat { Csv, Tsv, Json, JsonArray, Xlsx }

/// <summary>A read of a dataset's rows as the API describes it ($select, $filter, $top, $skip, $last, version).</summary>
public sealed record RowQuery(
    DatasetRow Dataset,
    RowFormat Format,
    string? Filter = null,
    IReadOnlyList<string>? Select = null,
    long? Top = null,
    long? Skip = null,
    long? Last = null,
    int? Version = null);

/// <summary>Thrown for a query the caller got wrong (bad filter, unknown column, missing version): a 400.</summary>
public sealed class RowQueryException(string message) : Exception(message);

/// <summary>A checked query, ready to stream; building it throws <see cref="RowQueryException"/> before any byte is sent.</summary>
public sealed class PreparedRowQuery
{
    public required string SelectSql { get; init; }
    public required string CountSql { get; init; }
    public required IReadOnlyList<string> Settings { get; init; }
    public required IReadOnlyList<StoredColumn> Columns { get; init; }
    public required RowFormat Format { get; init; }
    public bool Empty { get; init; }

    /// <summary>
    /// The same rows in table order with <see cref="RangedCopy.RangePlaceholder"/> where a range of pages goes, when the
    /// rows can be read range by range (see <see cref="RangedCopy"/>); null otherwise.
    /// </summary>
    public string? RangedSelectSql { get; init; }

    /// <summary>The dataset's table (the ranges are of its pages).</summary>
    public string Table { get; init; } = "";
}

/// <summary>
/// Streams rows with COPY ... TO STDOUT straight to the caller. Every piece of user text (filter values,
/// column names in JSON keys) travels as a bound value: it is set with set_config(..., $1, true) inside the
/// read's transaction and referenced as current_setting(...) in the COPY, which itself cannot take parameters.
/// Every statement runs under the statement_timeout of <see cref="ReadOptions"/> and is cancelled on the server when
/// the caller's token is (a client that went away).
/// </summary>
public sealed class RowReader(NpgsqlDataSource dataSource, IOptions<ReadOptions> options)
{
    // PostgreSQL passes at most 100 arguments to a function (FUNC_MAX_ARGS): a JSON row is built from concat() calls
    // of at most this many (key, value) pairs each, nested once, which covers 50 x 100 = 5000 columns.
    private const int JsonPairsPerConcat = 49;

    public async Task<PreparedRowQuery> PrepareAsync(RowQuery query, CancellationToken cancellationToken = default)
    {
        var dataset = query.Dataset;
        IReadOnlyList<StoredColumn> columns;
        int? version = query.Version;
        string where;
        if (version is { } v)
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            var at = await connection.QuerySingleOrDefaultAsync<VersionRow>(new CommandDefinition(
                "SELECT version, columns::text AS columns, row_floor FROM dp.dataset_versions WHERE dataset_id = @id AND version = @v", new { id = dataset.Id, v },
                cancellationToken: cancellationToken));
            if (at is null) throw new RowQueryException($"Version {v} of this dataset does not exist.");
            columns = StoredColumns.FromJson(at.Columns);
            where = DataTables.VisibleAt(v, at.RowFloor);
        }
        else
        {
            columns = StoredColumns.FromJson(dataset.Columns);
            where = DataTables.Live(dataset.Id);
        }
        // Block datasets are ordered records with no key, even ones stored with key flags before that rule: columns stay in their order.
        if (dataset.IsBlocks) columns = [.. columns.Select(c => c.AsValue())];

        // One hash lookup per name in $select and $filter, whatever the width.
        var lookup = new ColumnLookup(columns);
        var output = StoredColumns.InOutputOrder(columns);
        if (query.Select is { Count: > 0 } select)
        {
            var chosen = new List<StoredColumn>();
            var seen = new HashSet<StoredColumn>(ReferenceEqualityComparer.Instance);
            foreach (var name in select.Where(s => !string.IsNullOrWhiteSpace(s)))
            {
                var column = lookup.Find(name) ?? throw new RowQueryException($"Unknown column '{Shorten(name.Trim())}' in $select.");
                if (seen.Add(column)) chosen.Add(column);
            }
            // Entity columns (and the date) always come first, whatever $select says.
            output = [.. output.Where(c => c.IsKey), .. chosen.Where(c => !c.IsKey)];
        }
        if (columns.Count == 0 || (dataset.CurrentVersion is null && version is null))
            return new PreparedRowQuery { SelectSql = "", CountSql = "", Settings = [], Columns = output, Format = query.Format, Empty = true };

        var settings = new List<string>();
        string Setting(string value, string cast = "text")
        {
            settings.Add(value);
            // A scalar subquery is evaluated once per statement, not once per row.
            return $"(SELECT current_setting('dp.p{settings.Count - 1}')::{cast})";
        }

        if (!string.IsNullOrWhiteSpace(query.Filter))
        {
            var parameters = new List<FilterParameter>();
            string? filterSql;
            try
            {
                filterSql = ODataFilter.ToSql(query.Filter,
                    name => lookup.Find(name) is { } c ? new FilterColumn(c.Name, c.Physical, KindOf(c)) : null,
                    parameters,
                    (index, kind) => $"{{p{index}}}",
                    lookup.MaxWordsInName);
            }
            catch (FilterException e)
            {
                throw new RowQueryException(e.Message);
            }
            if (filterSql is not null)
            {
                for (var i = 0; i < parameters.Count; i++)
                    filterSql = filterSql.Replace($"{{p{i}}}", Setting(ToText(parameters[i].Value), SqlCast(parameters[i].Kind)));
                where += $" AND ({filterSql})";
            }
        }

        var table = dataset.TableName;
        var date = columns.FirstOrDefault(c => c.IsDate);
        var projection = query.Format is RowFormat.Json or RowFormat.JsonArray
            ? JsonObjectSql(output, Setting)
            // boolean::text is true/false (COPY alone would print t/f, which CSV readers take for text).
            : string.Join(", ", output.Select(c => c.SqlType == "boolean" && query.Format is RowFormat.Csv or RowFormat.Tsv ? $"{c.Physical}::text" : c.Physical));
        string selectSql;
        string? rangedSelectSql = null;
        if (query.Last is { } lastRecords && dataset.IsBlocks)
        {
            // The last N records in block order, returned in block order.
            selectSql = $"SELECT {projection} FROM (SELECT * FROM {table} WHERE {where} ORDER BY _block DESC, _seq DESC LIMIT {lastRecords}) r ORDER BY _block, _seq";
        }
        else if (query.Last is { } last && date is not null)
        {
            // The last N rows by date, returned in date order.
            selectSql = $"SELECT {projection} FROM (SELECT * FROM {table} WHERE {where} ORDER BY {date.Physical} DESC LIMIT {last}) r ORDER BY {date.Physical}";
        }
        else
        {
            selectSql = $"SELECT {projection} FROM {table} WHERE {where}";
            // Block datasets read back in ascending block number, then submission order within the block.
            if (dataset.IsBlocks) selectSql += " ORDER BY _block, _seq";
            // A JSON array joins rows across reads with commas (see CopyToAsync): it stays one statement.
            else if (query.Skip is null && query.Top is null && query.Format is RowFormat.Csv or RowFormat.Tsv or RowFormat.Json)
                rangedSelectSql = $"SELECT {projection} FROM {table} WHERE {RangedCopy.RangePlaceholder} AND {where}";
        }
        if (query.Skip is { } skip) selectSql += $" OFFSET {skip}";
        if (query.Top is { } top) selectSql += $" LIMIT {top}";
        return new PreparedRowQuery
        {
            SelectSql = selectSql,
            CountSql = $"SELECT count(*) FROM {table} WHERE {where}",
            Settings = settings,
            Columns = output,
            Format = query.Format,
            RangedSelectSql = rangedSelectSql,
            Table = table,
        };
    }

    /// <summary>
    /// One row as JSON object text, keys in output order, as concat() of the key texts (bound values, see the class
    /// comment) and to_json() of each value. json_build_object would be simpler but takes at most 50 pairs.
    /// </summary>
    private static string JsonObjectSql(IReadOnlyList<StoredColumn> output, Func<string, string, string> setting)
    {
        var pairs = output.Select((c, i) =>
            $"{setting((i == 0 ? "{" : ",") + JsonSerializer.Serialize(c.Name, JsonKeys) + ":", "text")}, COALESCE(to_json({c.Physical})::text, 'null')").ToList();
        if (pairs.Count == 0) return "'{}'";
        var groups = pairs.Chunk(JsonPairsPerConcat).Select(g => $"concat({string.Join(", ", g)})").ToList();
        return $"concat({string.Join(", ", groups)}, '}}')";
    }

    private static readonly JsonSerializerOptions JsonKeys = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Rows the query itself would return ($skip, $top and $last applied), counted up to <paramref name="limit"/>.</summary>
    public async Task<long> CountReturnedAsync(PreparedRowQuery prepared, long limit, CancellationToken cancellationToken = default)
    {
        if (prepared.Empty) return 0;
        await using var session = await OpenAsync(prepared, cancellationToken);
        await using var command = session.Command($"SELECT count(*) FROM (SELECT 1 FROM ({prepared.SelectSql}) s LIMIT {limit}) q");
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Number of rows the query matches before $top and $skip (the Row-Count header).</summary>
    public async Task<long> CountAsync(PreparedRowQuery prepared, CancellationToken cancellationToken = default)
    {
        if (prepared.Empty) return 0;
        await using var session = await OpenAsync(prepared, cancellationToken);
        await using var command = session.Command(prepared.CountSql);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>
    /// Writes the header (for CSV/TSV) and every row to <paramref name="output"/> as PostgreSQL produces them. The query
    /// starts before anything is written, and nothing is written until the first buffer is full, so an error that comes
    /// early leaves the response unstarted (the caller can still answer with a problem); one that comes later throws mid-stream.
    /// </summary>
    public async Task CopyToAsync(PreparedRowQuery prepared, Stream output, CancellationToken cancellationToken)
    {
        var array = prepared.Format == RowFormat.JsonArray;
        var buffer = new CopyOutBuffer(output);
        await buffer.AppendAsync(HeaderBytes(prepared), cancellationToken);
        if (array) buffer.Append((byte)'[');
        if (prepared.Empty)
        {
            if (array) buffer.Append((byte)']');
            await buffer.FlushAsync(cancellationToken);
            return;
        }

        var copyOptions = prepared.Format switch
        {
            RowFormat.Tsv => "FORMAT csv, DELIMITER E'\\t'",
            // JSON text never contains raw control characters (they are escaped), so these quote/delimiter bytes never
            // appear and each line is the JSON object exactly as PostgreSQL built it.
            RowFormat.Json or RowFormat.JsonArray => "FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02'",
            _ => "FORMAT csv",
        };
        var ranged = prepared.RangedSelectSql is not null && options.Value.DownloadStreams > 1;
        // Ranges read in several sessions share the first one's snapshot, which only a REPEATABLE READ transaction exports.
        await using var session = await OpenAsync(prepared, cancellationToken,
            ranged ? System.Data.IsolationLevel.RepeatableRead : System.Data.IsolationLevel.ReadCommitted);
        if (ranged && await RangedCopy.PlanAsync(session, prepared, options.Value, cancellationToken) is { } plan)
        {
            await plan.CopyAsync(session, (snapshot, token) => OpenAsync(prepared, token, System.Data.IsolationLevel.RepeatableRead, snapshot),
                copyOptions, buffer, cancellationToken);
            await buffer.FlushAsync(cancellationToken);
            return;
        }
        await using var cancelOnServer = session.CancelOnServerWhen(cancellationToken);
        if (options.Value.FormatDownloadsInService && BinaryCsvCopy.For(prepared.Columns, prepared.Format) is { } formatted)
        {
            await using var binary = await session.Connection.BeginRawBinaryCopyAsync(
                $"COPY ({prepared.SelectSql}) TO STDOUT (FORMAT binary)", cancellationToken);
            binary.ReadTimeout = (session.TimeoutSeconds + 30) * 1000;
            await formatted.CopyAsync(binary, buffer, cancellationToken);
            await buffer.FlushAsync(cancellationToken);
            return;
        }
        using var copy = await session.Connection.BeginTextExportAsync($"COPY ({prepared.SelectSql}) TO STDOUT ({copyOptions})", cancellationToken);
        // The bytes are passed through as PostgreSQL sent them (UTF-8, the connection's client encoding): the text reader
        // is never read, so nothing is decoded to chars and encoded again.
        var raw = (NpgsqlRawCopyStream)copy.BaseStream;
        // A COPY's reads wait at most the connection's command timeout (30 s by default) for the next data; a filter that
        // matches little of a big table may legitimately be quiet longer. The statement timeout is the bound instead.
        raw.ReadTimeout = (session.TimeoutSeconds + 30) * 1000;
        var pendingSeparator = false;
        while (true)
        {
            // One object per line from COPY; in an array the line breaks become commas (none after the last): the comma
            // goes in before the next read and is taken back if that read finds the end.
            if (pendingSeparator) buffer.Append((byte)',');
            // PostgreSQL sends one message per row and a raw read returns at most one message, so reads go straight into
            // the output buffer: one copy of each byte, and the response is written in large pieces. No token: Npgsql would
            // register it on every read, a million times for a million rows; cancelOnServer ends the statement instead,
            // which ends the read with an error.
            var read = await raw.ReadAsync(buffer.Free, CancellationToken.None);
            if (read == 0)
            {
                if (pendingSeparator) buffer.TakeBack(1);
                break;
            }
            pendingSeparator = false;
            // JSON text has no raw line break, so in an array one can only end a row, i.e. end a read.
            if (array && buffer.Free.Span[read - 1] == (byte)'\n')
            {
                read--;
                pendingSeparator = true;
            }
            buffer.Commit(read);
            await buffer.WriteIfFullAsync(cancellationToken);
        }
        if (array) buffer.Append((byte)']');
        await buffer.FlushAsync(cancellationToken);
    }

    private static byte[] HeaderBytes(PreparedRowQuery prepared)
    {
        if (prepared.Format is not (RowFormat.Csv or RowFormat.Tsv) || prepared.Columns.Count == 0) return [];
        var separator = prepared.Format == RowFormat.Tsv ? '\t' : ',';
        return Encoding.UTF8.GetBytes(string.Join(separator, prepared.Columns.Select(c => CsvField(c.Name, separator))) + "\n");
    }

    /// <summary>The rows as an XLSX package in a temporary file (deleted when the returned stream is closed).</summary>
    public async Task<FileStream> ExportXlsxAsync(PreparedRowQuery prepared, CancellationToken cancellationToken)
    {
        await using var session = await OpenAsync(prepared, cancellationToken);
        await using var command = session.Command(prepared.Empty ? "SELECT 1 WHERE false" : prepared.SelectSql);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await XlsxExport.WriteAsync(reader, [.. prepared.Columns.Select(c => c.Name)], cancellationToken);
    }

    private async Task<ReadSession> OpenAsync(PreparedRowQuery prepared, CancellationToken cancellationToken,
        System.Data.IsolationLevel isolation = System.Data.IsolationLevel.ReadCommitted, string? snapshot = null)
    {
        // Stable physical order for $top/$skip paging: no parallel workers, no synchronized scans starting mid-table.
        var session = await ReadSession.OpenAsync(dataSource, options.Value, cancellationToken, isolation,
            extraSettings: "SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL synchronize_seqscans = off; SET LOCAL DateStyle = 'ISO, YMD'",
            snapshot: snapshot);
        try
        {
            if (prepared.Settings.Count > 0)
            {
                // One round trip for all of them (a wide JSON read has one per column).
                await using var batch = session.Batch();
                for (var i = 0; i < prepared.Settings.Count; i++)
                {
                    var command = new NpgsqlBatchCommand("SELECT set_config($1, $2, true)");
                    command.Parameters.Add(new NpgsqlParameter { Value = $"dp.p{i}" });
                    command.Parameters.Add(new NpgsqlParameter { Value = prepared.Settings[i] });
                    batch.BatchCommands.Add(command);
                }
                await batch.ExecuteNonQueryAsync(cancellationToken);
            }
            return session;
        }
        catch
        {
            await session.DisposeAsync();
            throw;
        }
    }

    private static FilterValueKind KindOf(StoredColumn column) => column.SqlType switch
    {
        "text" => FilterValueKind.Text,
        "date" => FilterValueKind.Date,
        "timestamp" => FilterValueKind.Timestamp,
        "smallint" or "bigint" => FilterValueKind.Integer,
        "boolean" => FilterValueKind.Boolean,
        _ => FilterValueKind.Number,
    };

    private static string SqlCast(FilterValueKind kind) => kind switch
    {
        FilterValueKind.Text => "text",
        FilterValueKind.Date => "date",
        FilterValueKind.Timestamp => "timestamp",
        FilterValueKind.Integer => "bigint",
        FilterValueKind.Boolean => "boolean",
        _ => "double precision",
    };

    private static string ToText(object value) => value switch
    {
        DateOnly d => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        DateTime d => d.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static string Shorten(string text) => text.Length <= 100 ? text : text[..100] + "…";

    private static string CsvField(string value, char separator) =>
        value.IndexOfAny([separator, '"', '\n', '\r']) >= 0 ? $"\"{value.Replace("\"", "\"\"")}\"" : value;
}

public sealed record DateStats(string? MinDate, string? MaxDate, long Rows, long Entities);

public static class DateStatsQuery
{
    /// <summary>Date range, row count and number of distinct entity tuples of the dataset's current rows.</summary>
    public static async Task<DateStats> ReadAsync(NpgsqlDataSource dataSource, DatasetRow dataset, ReadOptions options, CancellationToken cancellationToken)
    {
        var columns = StoredColumns.FromJson(dataset.Columns);
        // A block dataset has no key: its date range comes from its first date-typed column, and its records form one series.
        if (dataset.IsBlocks) columns = [.. columns.Select(c => c.AsValue())];
        var date = columns.FirstOrDefault(c => c.IsDate) ?? (dataset.IsBlocks ? columns.FirstOrDefault(c => c.Dtype == DataTypes.Datetime) : null);
        if (date is null || dataset.CurrentVersion is null) return new DateStats(null, null, 0, 0);
        var entities = columns.Where(c => c.IsEntity && !c.IsDate).Select(c => c.Physical).ToList();
        // A row constructor takes any number of fields (a function would stop at 100).
        var distinct = entities.Count == 0 ? "CASE WHEN count(*) > 0 THEN 1 ELSE 0 END" : $"count(DISTINCT ROW({string.Join(", ", entities)}))";
        await using var session = await ReadSession.OpenAsync(dataSource, options, cancellationToken);
        await using var command = session.Command($"SELECT min({date.Physical}), max({date.Physical}), count(*), {distinct} FROM {dataset.TableName} WHERE {DataTables.Live(dataset.Id)}");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new DateStats(Import.ImportRunner.FormatValue(reader.GetValue(0)), Import.ImportRunner.FormatValue(reader.GetValue(1)),
            reader.GetInt64(2), Convert.ToInt64(reader.GetValue(3), CultureInfo.InvariantCulture));
    }
}
