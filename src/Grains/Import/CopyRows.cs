using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using DatasetPlatform.Grains.Abstractions;
using Npgsql;

namespace DatasetPlatform.Grains.Import;

/// <summary>What a COPY loaded: rows, and the date range seen (the date column is parsed anyway, so this is free).</summary>
internal sealed record CopyResult(long Rows, string? MinDate, string? MaxDate);

/// <summary>
/// Parses rows and streams them into PostgreSQL with binary COPY. Parsing and encoding run on one task while
/// another pushes bytes to the server through a bounded pipe (1 MiB), so parsing overlaps the server's COPY
/// work and memory stays flat whatever the file size.
/// </summary>
internal static class CopyRows
{
    private const int FlushEvery = 1 << 16;

    public static async Task<CopyResult> RunAsync(NpgsqlConnection connection, IRowSource source, LoadPlan plan, string table, int? version,
        ImportProgressCounter progress, CancellationToken cancellationToken)
    {
        var columns = (version is null ? "" : "_vf, ") + string.Join(", ", plan.Loaded.Select(c => c.Column.Physical));
        await using var copy = await connection.BeginRawBinaryCopyAsync($"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)", cancellationToken);
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 1 << 19, useSynchronizationContext: false));
        var sender = SendAsync(pipe.Reader, copy, cancellationToken);
        try
        {
            var result = await Task.Run(() => ProduceAsync(source, plan, version, pipe.Writer, progress, cancellationToken), cancellationToken);
            await pipe.Writer.CompleteAsync();
            await sender;
            return result;
        }
        catch (Exception e)
        {
            await pipe.Writer.CompleteAsync(e);
            try { await sender; } catch (Exception) { /* the producer's error is the one to report */ }
            await copy.CancelAsync();
            throw;
        }
    }

    private static async Task SendAsync(PipeReader reader, Stream copy, CancellationToken cancellationToken)
    {
        try { await reader.CopyToAsync(copy, cancellationToken); }
        finally { await reader.CompleteAsync(); }
    }

    private static async Task<CopyResult> ProduceAsync(IRowSource source, LoadPlan plan, int? version, PipeWriter writer,
        ImportProgressCounter progress, CancellationToken cancellationToken)
    {
        var encoder = new CopyRowEncoder();
        var columns = plan.Loaded.ToArray();
        var fieldCount = (short)(columns.Length + (version is null ? 0 : 1));
        var dateIndex = Array.FindIndex(columns, c => c.Column.IsDate);
        DateTime? minDate = null, maxDate = null;
        long row = 0, unflushed = 0;

        writer.Write(CopyRowEncoder.Header);
        while (await source.ReadAsync())
        {
            row++;
            encoder.BeginRow(fieldCount);
            if (version is { } v) encoder.WriteInt32(v);
            for (var i = 0; i < columns.Length; i++)
            {
                var column = columns[i];
                var field = source.GetField(column.SourceIndex);
                var error = Encode(encoder, column, field, out var date);
                if (error is not null)
                {
                    var message = $"Row {row}, column '{column.Column.Name}': {error}";
                    throw new ImportFailure(JobStatus.Failed, message, [new RowError(row, column.Column.Name, error)]);
                }
                if (i == dateIndex)
                {
                    if (minDate is null || date < minDate) minDate = date;
                    if (maxDate is null || date > maxDate) maxDate = date;
                }
            }
            var encoded = encoder.Row;
            writer.Write(encoded);
            unflushed += encoded.Length;
            if (unflushed >= FlushEvery)
            {
                unflushed = 0;
                progress.RowsRead = row;
                var flushed = await writer.FlushAsync(cancellationToken);
                if (flushed.IsCompleted) break; // the sender stopped; its error surfaces when it is awaited
            }
        }
        writer.Write(CopyRowEncoder.Trailer);
        await writer.FlushAsync(cancellationToken);
        progress.RowsRead = row;
        return new CopyResult(row, Format(minDate, plan), Format(maxDate, plan));
    }

    private static string? Format(DateTime? value, LoadPlan plan) =>
        value?.ToString(plan.Columns.Any(c => c.IsDate && c.SqlType == "timestamp") ? "yyyy-MM-dd HH:mm:ss" : "yyyy-MM-dd", CultureInfo.InvariantCulture);

    /// <summary>Encodes one field; returns an error message (without row and column) when the value is not acceptable.</summary>
    private static string? Encode(CopyRowEncoder encoder, LoadColumn column, ReadOnlySpan<char> field, out DateTime date)
    {
        date = default;
        var value = column.Kind == FieldKind.Text ? field : field.Trim();
        if (value.IsEmpty)
        {
            if (column.Column.IsKey) return column.Column.IsDate ? "the date is empty" : "entity values cannot be null";
            encoder.WriteNull();
            return null;
        }
        switch (column.Kind)
        {
            case FieldKind.Text:
                encoder.WriteText(value);
                return null;
            case FieldKind.Float:
                if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number))
                {
                    encoder.WriteDouble(number);
                    return null;
                }
                return $"'{Clip(value)}' is not a valid Decimal";
            case FieldKind.Int16:
                if (short.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var small))
                {
                    encoder.WriteInt16(small);
                    return null;
                }
                return double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
                    ? $"{Clip(value)} is out of range for Short Integer (whole numbers from -32768 to 32767)"
                    : $"'{Clip(value)}' is not a valid Short Integer";
            case FieldKind.Int64:
                if (long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var big))
                {
                    encoder.WriteInt64(big);
                    return null;
                }
                return $"'{Clip(value)}' is not a valid integer";
            case FieldKind.Boolean:
                if (TryParseBoolean(value, out var flag))
                {
                    encoder.WriteBoolean(flag);
                    return null;
                }
                return $"'{Clip(value)}' is not a valid boolean";
            default:
                if (!column.Dates!.TryParse(value, out date))
                    return $"'{Clip(value)}' is not a valid date" + (column.Column.DateFormat is { } f ? $" for format '{f}'" : "");
                if (column.Kind == FieldKind.Date) encoder.WriteDate(date);
                else encoder.WriteTimestamp(date);
                return null;
        }
    }

    private static bool TryParseBoolean(ReadOnlySpan<char> value, out bool result)
    {
        if (value.Equals("true", StringComparison.OrdinalIgnoreCase) || value is "1" || value.Equals("yes", StringComparison.OrdinalIgnoreCase)) { result = true; return true; }
        if (value.Equals("false", StringComparison.OrdinalIgnoreCase) || value is "0" || value.Equals("no", StringComparison.OrdinalIgnoreCase)) { result = false; return true; }
        result = false;
        return false;
    }

    private static string Clip(ReadOnlySpan<char> value) => value.Length <= 60 ? value.ToString() : string.Concat(value[..57], "...");
}
