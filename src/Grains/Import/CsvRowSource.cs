using System.Text;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Grains.Storage;
using Sylvan.Data.Csv;

namespace DatasetPlatform.Grains.Import;

/// <summary>How bytes that are not valid in the file's encoding are reported.</summary>
internal static class EncodingErrors
{
    /// <summary>What <see cref="MarkingUtf8"/> decodes an invalid byte sequence to: a noncharacter, which no real text holds.</summary>
    public const char InvalidByteMarker = '\uFFFF';

    /// <summary>UTF-8 that decodes invalid bytes to <see cref="InvalidByteMarker"/>, so the value holding them can be named.</summary>
    public static Encoding MarkingUtf8 { get; } =
        Encoding.GetEncoding("utf-8", EncoderFallback.ExceptionFallback, new DecoderReplacementFallback(InvalidByteMarker.ToString()));

    public const string InvalidByteMessage = "the value holds bytes that are not UTF-8 text (save the file as UTF-8; Latin-1 and other single-byte encodings are read only by the versioned-datasets upload)";

    public static ImportFailure NotUtf8(DecoderFallbackException e, string where)
    {
        var bytes = e.BytesUnknown is { Length: > 0 } unknown ? $" (byte {string.Join(" ", unknown.Select(b => $"0x{b:X2}"))})" : "";
        return new ImportFailure(Abstractions.JobStatus.Failed,
            $"The file is not valid UTF-8 text{bytes} near {where}; save it as UTF-8 (Latin-1 and other single-byte encodings are read only by the versioned-datasets upload).");
    }
}

/// <summary>
/// CSV with a header row, delimiter detected by Sylvan (comma, tab, semicolon, pipe). The parser's buffer is capped at
/// <see cref="ImportLimits.MaxRecordChars"/>, so no record (header included) is buffered beyond it; the header's width and
/// length are checked as soon as it is read, before anything grows with the number of columns.
/// </summary>
internal sealed class CsvRowSource : IRowSource
{
    private readonly CsvDataReader _reader;
    private readonly TextReader _text;
    private readonly ImportLimits _limits;
    private readonly bool _reportEncodingErrors;
    private long _row;

    /// <summary>The parser's buffer when rented (<see cref="RentBuffer"/>); returned when the source is disposed.</summary>
    private char[]? _rented;

    private CsvRowSource(TextReader text, CsvDataReader reader, IReadOnlyList<string> columns, ImportLimits limits, bool reportEncodingErrors, char[]? rented)
    {
        _rented = rented;
        _text = text;
        _reader = reader;
        _limits = limits;
        _reportEncodingErrors = reportEncodingErrors;
        Columns = columns;
    }

    public IReadOnlyList<string> Columns { get; }

    public RowError? RecordError { get; private set; }

    /// <param name="dialect">A sniffed dialect (delimiter, header or not); null lets Sylvan detect the delimiter of a file with a header.</param>
    /// <param name="reportEncodingErrors">Turn a byte the text encoding cannot read into the import's failure; false lets the
    /// caller catch <see cref="DecoderFallbackException"/> and read the file again in another encoding.</param>
    public static async Task<CsvRowSource?> OpenAsync(TextReader text, CsvDialect? dialect, ImportLimits limits, bool reportEncodingErrors,
        CancellationToken cancellationToken)
    {
        var rented = RentBuffer(limits);
        var options = new CsvDataReaderOptions
        {
            HasHeaders = dialect?.HasHeader ?? true,
            BufferSize = Math.Min(BufferChars, limits.MaxRecordChars),
            MaxBufferSize = limits.MaxRecordChars,
        };
        if (dialect is not null) options.Delimiter = dialect.Delimiter;
        try
        {
            CsvDataReader reader;
            try { reader = await (rented is null ? CsvDataReader.CreateAsync(text, options, cancellationToken) : CsvDataReader.CreateAsync(text, rented, options, cancellationToken)); }
            catch (CsvRecordTooLargeException)
            {
                throw new ImportFailure(Abstractions.JobStatus.Failed,
                    $"The first row (the header) is longer than {limits.MaxRecordChars} characters (the limit MAX_RECORD_CHARS); nothing was loaded.");
            }
            catch (DecoderFallbackException e) when (reportEncodingErrors) { throw EncodingErrors.NotUtf8(e, "the header"); }
            if (reader.FieldCount == 0 || (reader.FieldCount == 1 && string.IsNullOrWhiteSpace(reader.GetName(0))))
            {
                await reader.DisposeAsync();
                text.Dispose();
                SmallArrays<char>.Return(rented);
                return null; // no header at all: the file is empty
            }
            if (CheckHeader(reader, options.HasHeaders, limits) is { } problem)
            {
                await reader.DisposeAsync();
                throw new ImportFailure(Abstractions.JobStatus.Failed, problem);
            }
            // Without a header row, columns are named column_1, column_2, ...
            IReadOnlyList<string> columns = [.. Enumerable.Range(0, reader.FieldCount).Select(i => options.HasHeaders ? reader.GetName(i) : $"column_{i + 1}")];
            return new CsvRowSource(text, reader, columns, limits, reportEncodingErrors, rented);
        }
        catch
        {
            text.Dispose();
            SmallArrays<char>.Return(rented);
            throw;
        }
    }

    private const int BufferChars = 1 << 16;

    /// <summary>
    /// The parser's first buffer, rented: a new one per import (128 KB) went to the large-object heap, whose budget then set
    /// off a full GC every few small uploads. Only at the usual record limit, where the pool's array is exactly the size asked:
    /// a bigger one would let a record past a lower MAX_RECORD_CHARS fit (Sylvan grows its buffer, into an array of its own,
    /// only up to MaxBufferSize).
    /// </summary>
    private static char[]? RentBuffer(ImportLimits limits) => limits.MaxRecordChars >= BufferChars ? SmallArrays<char>.Rent(BufferChars) : null;

    /// <summary>Width first (it bounds everything after), then the header's length and its names.</summary>
    private static string? CheckHeader(CsvDataReader reader, bool hasHeader, ImportLimits limits)
    {
        var what = hasHeader ? "header" : "first row";
        if (reader.FieldCount > DatasetLimits.MaxColumns)
            return $"The {what} has {reader.FieldCount} columns; a dataset can have at most {DatasetLimits.MaxColumns} columns (PostgreSQL's 1600 less the service's own bookkeeping columns).";
        if (!hasHeader) return null;
        long length = 0;
        for (var i = 0; i < reader.FieldCount; i++)
        {
            var name = reader.GetName(i);
            length += name.Length;
            if (name.Contains('\0'))
                return $"Column {i + 1} of the header contains a NUL character; the file may be UTF-16 without a byte order mark. Save it as UTF-8.";
            if (name.Contains(EncodingErrors.InvalidByteMarker))
                return $"Column {i + 1} of the header: {EncodingErrors.InvalidByteMessage}.";
        }
        return length > limits.MaxHeaderChars
            ? $"The header's column names are {length} characters long in all; the limit is {limits.MaxHeaderChars} (MAX_HEADER_CHARS)."
            : null;
    }

    public async ValueTask<bool> ReadAsync()
    {
        bool read;
        try { read = await _reader.ReadAsync(); }
        catch (CsvRecordTooLargeException)
        {
            throw new ImportFailure(Abstractions.JobStatus.Failed,
                $"Row {_row + 1} is longer than {_limits.MaxRecordChars} characters (the limit MAX_RECORD_CHARS; an unclosed quote makes the rest of the file one record); nothing was loaded.");
        }
        catch (DecoderFallbackException e) when (_reportEncodingErrors) { throw EncodingErrors.NotUtf8(e, $"row {_row + 1}"); }
        catch (CsvFormatException e)
        {
            throw new ImportFailure(Abstractions.JobStatus.Failed,
                $"Row {_row + 1}" + (e.FieldOrdinal >= 0 && e.FieldOrdinal < Columns.Count ? $", column '{Columns[e.FieldOrdinal]}'" : "")
                + ": the CSV is malformed (a quote inside a field must be doubled, and a quoted field must be closed).");
        }
        if (!read) return false;
        _row++;
        RecordError = _reader.RowFieldCount > Columns.Count ? Ragged() : null;
        return true;
    }

    /// <summary>More fields than the header would lose data, unless the extra ones are empty (a trailing delimiter).</summary>
    private RowError? Ragged()
    {
        for (var i = Columns.Count; i < _reader.RowFieldCount; i++)
        {
            if (!_reader.GetFieldSpan(i).IsWhiteSpace())
                return new RowError(_row, null, $"the row has {_reader.RowFieldCount} fields but the header has {Columns.Count}");
        }
        return null;
    }

    public ReadOnlySpan<char> GetField(int index)
    {
        if (index >= _reader.RowFieldCount) return [];
        var field = _reader.GetFieldSpan(index);
        if (field.Length > _limits.MaxFieldChars)
            throw new ImportFailure(Abstractions.JobStatus.Failed,
                $"Row {_row}, column '{Columns[index]}': the value is {field.Length} characters long; the limit is {_limits.MaxFieldChars} (MAX_FIELD_CHARS).");
        return field;
    }

    public void Dispose()
    {
        _reader.Dispose();
        _text.Dispose();
        SmallArrays<char>.Return(_rented);
        _rented = null;
    }
}
