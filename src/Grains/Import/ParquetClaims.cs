using DatasetPlatform.Grains.Abstractions;
using Parquet;
using Parquet.Schema;

namespace DatasetPlatform.Grains.Import;

/// <summary>
/// A Parquet file's footer and page headers are claims, not facts: how long the footer is, how many rows a row group has,
/// how big each page is once decompressed. Parquet.Net allocates by those claims, so they are checked here against the file
/// itself and against <see cref="ImportLimits"/> before it reads anything by them: first the footer's structure, then (once
/// it is parsed) every row group's rows and every page header of the columns that will be read.
/// </summary>
internal static class ParquetClaims
{
    /// <summary>Largest footer read (real ones are kilobytes to a few megabytes, even for wide files with many row groups).</summary>
    public const int MaxFooterBytes = 64 << 20;

    /// <summary>Memory per decoded value while a row group is held: the raw value, its definition level, the boxed value and its slot.</summary>
    public const int BytesPerDecodedValue = 32;

    private static ImportFailure Fail(string message) => new(JobStatus.Failed, message);

    /// <summary>Checks the magic bytes, the footer length and the footer's Thrift structure; returns where the footer starts.</summary>
    public static async Task<long> CheckFooterAsync(FileStream file, CancellationToken cancellationToken)
    {
        if (file.Length < 12) throw Fail("The file is not a readable Parquet file: it is shorter than a Parquet header and footer (corrupt or cut short).");
        var tail = new byte[8];
        file.Position = file.Length - 8;
        await file.ReadExactlyAsync(tail, cancellationToken);
        var head = new byte[4];
        file.Position = 0;
        await file.ReadExactlyAsync(head, cancellationToken);
        if (!head.AsSpan().SequenceEqual("PAR1"u8) || !tail.AsSpan(4).SequenceEqual("PAR1"u8))
            throw Fail("The file is not a readable Parquet file: it does not start and end with the Parquet magic bytes PAR1 (corrupt or cut short).");
        var footerLength = BitConverter.ToInt32(tail, 0);
        var footerStart = file.Length - 8 - footerLength;
        if (footerLength <= 0 || footerStart < 4 || footerLength > MaxFooterBytes)
            throw Fail($"The Parquet footer claims {footerLength} bytes in a file of {file.Length} bytes (at most {MaxFooterBytes} are read); the file is corrupt.");
        var footer = new byte[footerLength];
        file.Position = footerStart;
        await file.ReadExactlyAsync(footer, cancellationToken);
        try { new ThriftCompactWalker(footer, 0, footer.Length).WalkStruct(null); }
        catch (ThriftStructureException e) { throw Fail($"The Parquet footer is corrupt: {e.Message}."); }
        file.Position = 0;
        return footerStart;
    }

    /// <summary>
    /// For every row group: its rows against the memory bound, each column chunk's value count against its rows, and every
    /// page header against the file and the bound (with the values the pages hold adding up to what the footer says).
    /// </summary>
    public static async Task CheckRowGroupsAsync(FileStream file, long footerStart, ParquetReader reader, DataField[] fields, ImportLimits limits,
        CancellationToken cancellationToken)
    {
        var budget = limits.MaxParquetRowGroupBytes;
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            var group = reader.RowGroups[g];
            var rows = group.RowCount;
            if (rows < 0 || rows > int.MaxValue)
                throw Fail($"Parquet row group {g} claims {rows} rows; the file is corrupt.");
            var decoded = rows * Math.Max(1, fields.Length) * BytesPerDecodedValue;
            if (decoded > budget)
                throw Fail($"Parquet row group {g} has {rows} rows x {fields.Length} columns, about {decoded >> 20} MiB once decoded; at most {budget >> 20} MiB " +
                    $"per row group can be imported (MAX_PARQUET_ROW_GROUP_BYTES). Write the file with row groups of at most {budget / (Math.Max(1, fields.Length) * BytesPerDecodedValue)} rows.");
            long pageBytes = 0;
            foreach (var field in fields)
            {
                var meta = group.GetMetadata(field)?.MetaData
                    ?? throw Fail($"Parquet row group {g} has no data for column '{field.Name}'; the file is corrupt.");
                if (meta.NumValues != rows)
                    throw Fail($"Parquet row group {g} claims {rows} rows but its column '{field.Name}' claims {meta.NumValues} values; the file is corrupt.");
                long[] offsets = [meta.DictionaryPageOffset ?? 0, meta.DataPageOffset, meta.IndexPageOffset ?? 0];
                var position = offsets.Where(o => o != 0).DefaultIfEmpty(0).Min();
                long values = 0;
                while (values < rows)
                {
                    if (position < 4 || position >= footerStart)
                        throw Fail($"Parquet column '{field.Name}' in row group {g} points outside the file's data ({position}); the file is corrupt.");
                    var page = await ReadPageHeaderAsync(file, position, footerStart, field, g, cancellationToken);
                    if (page.Compressed < 0 || page.Uncompressed < 0 || position + page.HeaderLength + page.Compressed > footerStart)
                        throw Fail($"A page of Parquet column '{field.Name}' in row group {g} claims {page.Compressed} bytes beyond the end of the data; the file is corrupt.");
                    pageBytes += page.Uncompressed;
                    if (pageBytes > budget)
                        throw Fail($"The pages of Parquet row group {g} claim more than {budget >> 20} MiB once decompressed (MAX_PARQUET_ROW_GROUP_BYTES). Write the file with smaller row groups.");
                    if (page.Type == DictionaryPage && (page.Values < 0 || page.Values > Math.Max(page.Uncompressed, 1)))
                        throw Fail($"A dictionary page of Parquet column '{field.Name}' in row group {g} claims {page.Values} values in {page.Uncompressed} bytes; the file is corrupt.");
                    if (page.Type is DataPage or DataPageV2)
                    {
                        if (page.Values < 0) throw Fail($"A page of Parquet column '{field.Name}' in row group {g} claims {page.Values} values; the file is corrupt.");
                        values += page.Values;
                    }
                    if (meta.Codec == Parquet.Meta.CompressionCodec.SNAPPY && page.Compressed > 0)
                        await CheckSnappyLengthAsync(file, position + page.HeaderLength + page.LevelBytes, page, field, g, cancellationToken);
                    position += page.HeaderLength + page.Compressed;
                }
                if (values != rows)
                    throw Fail($"The pages of Parquet column '{field.Name}' in row group {g} hold {values} values but the footer claims {rows} rows; the file is corrupt.");
            }
        }
        file.Position = 0;
    }

    private const long DataPage = 0, DictionaryPage = 2, DataPageV2 = 3;

    private sealed record PageHeader(long Type, long Uncompressed, long Compressed, long Values, long LevelBytes, int HeaderLength);

    private static async Task<PageHeader> ReadPageHeaderAsync(FileStream file, long position, long footerStart, DataField field, int group,
        CancellationToken cancellationToken)
    {
        // Page headers are tens of bytes; statistics may make them longer, so read more only when the walk runs out.
        foreach (var size in (int[])[256, 64 << 10, 16 << 20])
        {
            var length = (int)Math.Min(size, footerStart - position);
            var buffer = new byte[length];
            file.Position = position;
            await file.ReadExactlyAsync(buffer, cancellationToken);
            long type = -1, uncompressed = -1, compressed = -1, values = 0, definitionBytes = 0, repetitionBytes = 0;
            var walker = new ThriftCompactWalker(buffer, 0, length);
            try
            {
                walker.WalkStruct((parent, id, value) =>
                {
                    switch (parent, id)
                    {
                        case (0, 1): type = value; break;
                        case (0, 2): uncompressed = value; break;
                        case (0, 3): compressed = value; break;
                        case (5, 1) or (7, 1) or (8, 1): values = value; break;
                        case (8, 5): definitionBytes = value; break;
                        case (8, 6): repetitionBytes = value; break;
                    }
                });
            }
            catch (ThriftStructureException) when (length == size)
            {
                continue; // cut off by the buffer, not by the file: read more
            }
            catch (ThriftStructureException e)
            {
                throw Fail($"A page header of Parquet column '{field.Name}' in row group {group} is corrupt: {e.Message}.");
            }
            var levels = type == DataPageV2 ? Math.Max(0, definitionBytes) + Math.Max(0, repetitionBytes) : 0;
            return new PageHeader(type, uncompressed, compressed, values, levels, walker.Position);
        }
        throw Fail($"A page header of Parquet column '{field.Name}' in row group {group} is longer than 16 MiB; the file is corrupt.");
    }

    /// <summary>Snappy data states its own decompressed length, which the decompressor allocates: it must match the page header's.</summary>
    private static async Task CheckSnappyLengthAsync(FileStream file, long position, PageHeader page, DataField field, int group, CancellationToken cancellationToken)
    {
        var buffer = new byte[5];
        file.Position = position;
        var read = await file.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken);
        ulong length = 0;
        for (var i = 0; i < read; i++)
        {
            length |= (ulong)(buffer[i] & 0x7F) << (7 * i);
            if ((buffer[i] & 0x80) == 0)
            {
                if (length > (ulong)page.Uncompressed)
                    throw Fail($"A page of Parquet column '{field.Name}' in row group {group} decompresses to {length} bytes, not the {page.Uncompressed} its header claims; the file is corrupt.");
                return;
            }
        }
        throw Fail($"A page of Parquet column '{field.Name}' in row group {group} has no valid Snappy length; the file is corrupt.");
    }
}
