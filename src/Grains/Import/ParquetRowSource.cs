using System.Globalization;
using DatasetPlatform.Grains.Schema;
using Parquet;
using Parquet.Schema;

namespace DatasetPlatform.Grains.Import;

/// <summary>
/// Rows of a Parquet file, one row group in memory at a time (Parquet's own unit of buffering). Parquet needs random
/// access (its footer comes last), so the staged bytes are first copied to a local temporary file, never to memory.
/// Column types come from the Parquet schema, not from inference. Values are handed on as invariant text so Parquet
/// and CSV share one encoder.
/// </summary>
internal sealed class ParquetRowSource : IRowSource, IAsyncDisposable
{
    private readonly FileStream _file;
    private readonly ParquetReader _reader;
    private readonly DataField[] _fields;
    private Array[] _columns = [];
    private int _group = -1;
    private int _row;
    private int _rowsInGroup;
    private readonly string?[] _current;

    private ParquetRowSource(FileStream file, ParquetReader reader)
    {
        _file = file;
        _reader = reader;
        _fields = reader.Schema.GetDataFields();
        _current = new string?[_fields.Length];
        Columns = [.. _fields.Select(f => f.Name)];
    }

    public IReadOnlyList<string> Columns { get; }
    public RowError? RecordError => null;

    /// <summary>The columns as the Parquet schema types them.</summary>
    public IReadOnlyList<InferredColumn> Schema => [.. _fields.Select(f =>
    {
        var (dtype, hasTime) = DtypeOf(f.ClrType);
        return new InferredColumn(f.Name, dtype, null, hasTime, 0, false);
    })];

    public static async Task<ParquetRowSource> OpenAsync(Stream staged, ImportLimits limits, CancellationToken cancellationToken)
    {
        FileStream? file = null;
        try
        {
            // The staged stream holds a pooled connection: release it as soon as the bytes are local (or on any failure).
            await using (staged)
            {
                file = new FileStream(Path.Combine(Path.GetTempPath(), $"dp-parquet-{Guid.NewGuid():N}.parquet"), FileMode.CreateNew, FileAccess.ReadWrite,
                    FileShare.None, 1 << 16, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
                var buffer = new byte[1 << 16];
                int read;
                while ((read = await staged.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    // A gzip-wrapped file is bounded by its decompression limits already; this bounds the local copy whatever the source.
                    if (file.Length > limits.MaxDecompressedBytes)
                        throw new ImportFailure(Abstractions.JobStatus.Failed,
                            $"The Parquet file is larger than {limits.MaxDecompressedBytes} bytes once decompressed (the limit MAX_DECOMPRESSED_BYTES).");
                }
            }
            var footerStart = await ParquetClaims.CheckFooterAsync(file, cancellationToken);
            ParquetReader reader;
            // The bytes are local now, so whatever the Parquet reader objects to is the file's fault (staging trouble above
            // propagates and is retried).
            try { reader = await ParquetReader.CreateAsync(file, leaveStreamOpen: true, cancellationToken: cancellationToken); }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new ImportFailure(Abstractions.JobStatus.Failed, $"The file is not a readable Parquet file: {e.Message}");
            }
            var fields = reader.Schema.GetDataFields();
            if (fields.Length > DatasetLimits.MaxColumns)
            {
                await reader.DisposeAsync();
                throw new ImportFailure(Abstractions.JobStatus.Failed,
                    $"The Parquet file has {fields.Length} columns; a dataset can have at most {DatasetLimits.MaxColumns} columns (PostgreSQL's 1600 less the service's own bookkeeping columns).");
            }
            if (fields.FirstOrDefault(f => f.MaxRepetitionLevel > 0) is { } nested)
            {
                await reader.DisposeAsync();
                throw new ImportFailure(Abstractions.JobStatus.Failed, $"Parquet column '{nested.Path}' holds lists; only flat columns can be imported.");
            }
            try { await ParquetClaims.CheckRowGroupsAsync(file, footerStart, reader, fields, limits, cancellationToken); }
            catch
            {
                await reader.DisposeAsync();
                throw;
            }
            return new ParquetRowSource(file, reader);
        }
        catch
        {
            if (file is not null) await file.DisposeAsync();
            throw;
        }
    }

    public async ValueTask<bool> ReadAsync()
    {
        while (_row >= _rowsInGroup)
        {
            if (++_group >= _reader.RowGroupCount) return false;
            using var group = _reader.OpenRowGroupReader(_group);
            _columns = new Array[_fields.Length];
            _rowsInGroup = (int)group.RowCount;
            try
            {
                for (var i = 0; i < _fields.Length; i++) _columns[i] = await ReadColumnAsync(group, _fields[i], _rowsInGroup, _group);
            }
            catch (Exception e) when (e is not (OperationCanceledException or ImportFailure))
            {
                throw new ImportFailure(Abstractions.JobStatus.Failed, $"Parquet row group {_group} cannot be read: {(e.InnerException ?? e).Message}");
            }
            _row = 0;
        }
        for (var i = 0; i < _fields.Length; i++) _current[i] = Text(_columns[i].GetValue(_row));
        _row++;
        return true;
    }

    public ReadOnlySpan<char> GetField(int index) => _current[index];

    private static Task<Array> ReadColumnAsync(ParquetRowGroupReader group, DataField field, int rows, int groupIndex)
    {
        var type = Nullable.GetUnderlyingType(field.ClrType) ?? field.ClrType;
        if (type == typeof(string)) return ReadRawAsync<ReadOnlyMemory<char>>(group, field, rows, groupIndex, v => new string(v.Span));
        if (type == typeof(byte[])) return ReadRawAsync<ReadOnlyMemory<byte>>(group, field, rows, groupIndex, v => Convert.ToBase64String(v.Span));
        // Value types: one generic read per column and row group (reflection once per chunk, not per value).
        var read = typeof(ParquetRowSource).GetMethod(nameof(ReadValuesAsync), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(type);
        return (Task<Array>)read.Invoke(null, [group, field, rows, groupIndex])!;
    }

    private static Task<Array> ReadValuesAsync<T>(ParquetRowGroupReader group, DataField field, int rows, int groupIndex) where T : struct =>
        ReadRawAsync<T>(group, field, rows, groupIndex, v => v);

    /// <summary>
    /// Reads a column chunk with its definition levels, which start out as -1: a level still -1 afterwards is a row the file
    /// claimed and did not hold, so a short column fails the import instead of loading made-up nulls.
    /// </summary>
    private static async Task<Array> ReadRawAsync<TRaw>(ParquetRowGroupReader group, DataField field, int rows, int groupIndex, Func<TRaw, object> convert)
        where TRaw : struct
    {
        var values = new TRaw[rows];
        int[]? levels = null;
        if (field.MaxDefinitionLevel > 0)
        {
            levels = new int[rows];
            Array.Fill(levels, -1);
        }
        await group.ReadRawAsync(field, values.AsMemory(), levels?.AsMemory(), null, CancellationToken.None);
        var result = new object?[rows];
        if (levels is null)
        {
            for (var i = 0; i < rows; i++) result[i] = convert(values[i]);
            return result;
        }
        var next = 0;
        for (var i = 0; i < rows; i++)
        {
            if (levels[i] < 0)
                throw new ImportFailure(Abstractions.JobStatus.Failed,
                    $"Parquet column '{field.Name}' in row group {groupIndex} holds {i} values but the file claims {rows} rows; the file is corrupt.");
            result[i] = levels[i] < field.MaxDefinitionLevel ? null : convert(values[next++]);
        }
        return result;
    }

    private static string? Text(object? value) => value switch
    {
        null => null,
        string s => s,
        bool b => b ? "true" : "false",
        DateTime d => d.ToString("yyyy-MM-dd HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture),
        DateTimeOffset d => d.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture),
        DateOnly d => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        // NaN and infinities are missing values, as pandas treats NaN.
        double d => double.IsFinite(d) ? d.ToString("R", CultureInfo.InvariantCulture) : null,
        float f => float.IsFinite(f) ? f.ToString("R", CultureInfo.InvariantCulture) : null,
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };

    private static (string Dtype, bool HasTime) DtypeOf(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(bool)) return (DataTypes.Bool, false);
        if (type == typeof(sbyte) || type == typeof(byte) || type == typeof(short) || type == typeof(ushort) || type == typeof(int)
            || type == typeof(uint) || type == typeof(long)) return (DataTypes.Int64, false);
        if (type == typeof(float) || type == typeof(double) || type == typeof(decimal) || type == typeof(ulong)) return (DataTypes.Float, false);
        if (type == typeof(DateOnly)) return (DataTypes.Datetime, false);
        if (type == typeof(DateTime) || type == typeof(DateTimeOffset)) return (DataTypes.Datetime, true);
        return (DataTypes.Text, false);
    }

    /// <summary>Closes (and so deletes) the temporary file; <see cref="DisposeAsync"/> also releases the reader.</summary>
    public void Dispose() => _file.Dispose();

    public async ValueTask DisposeAsync()
    {
        await _reader.DisposeAsync();
        await _file.DisposeAsync();
    }
}
