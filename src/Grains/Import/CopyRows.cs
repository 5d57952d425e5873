using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using DatasetPlatform.Grains.Abstractions;
using Npgsql;

namespace DatasetPlatform.Grains.Import;

/// <summary>What a COPY loaded: rows kept and rejected, the first errors, and the date range seen (parsed anyway, so free).</summary>
/// <param name="MayHaveDuplicateKeys">False only when every row's key was seen once (checked by hash in memory), so the
/// set-based duplicate check can be skipped.</param>
internal sealed record CopyResult(long Rows, long Rejected, IReadOnlyList<RowError> Errors, string? MinDate, string? MaxDate,
    bool MayHaveDuplicateKeys)
{
    /// <summary>The kept rows' quality figures, when the target asked for them (<see cref="CopyTarget.ProfileRows"/>).</summary>
    public RowFigures? Figures { get; init; }

    /// <summary>Kept rows identical to a live row (<see cref="CopyTarget.Unchanged"/>), staged as their key only, or not at all
    /// (<see cref="CopyTarget.SkipUnchanged"/>).</summary>
    public long Unchanged { get; init; }
}

/// <summary>
/// Where rows go and what each one is stamped with: the version that makes it visible, and for block datasets
/// its block number and position within the block.
/// </summary>
/// <param name="Freeze">The table was created in this transaction: COPY writes its rows frozen and its pages all-visible,
/// so nothing rewrites the whole table after the load. Without it, the autovacuum that the load's inserts trigger (a
/// minute later, while the next import runs) read and dirtied every page to set hint bits and visibility: measured at 1M
/// rows, 14,601 of 14,593 pages dirtied and written again (4.9 s, 14,594 WAL records); with FREEZE it scanned 1 page.</param>
internal sealed record CopyTarget(string Table, int? Version, int? Block, bool RejectInvalidRows, bool Freeze)
{
    /// <summary>Gather the quality report's figures (<see cref="RowProfile"/>) while encoding; a seed 004 version does.</summary>
    public bool ProfileRows { get; init; }

    /// <summary>Write each row's <see cref="RowHash"/> into the table's <see cref="Storage.DataTables.RowHashColumn"/> (keyed datasets).</summary>
    public bool RowHashes { get; init; }

    /// <summary>
    /// The live rows' hashes, when the target is a merge's staging table: a row whose hash is among them is identical to a live
    /// row, so only its key and hash are staged, with <see cref="KeyedMerge.UnchangedColumn"/> true (the merge leaves it out).
    /// Needs <see cref="RowHashes"/>.
    /// </summary>
    public LiveRowHashes? Unchanged { get; init; }

    /// <summary>
    /// Rows identical to a live row (<see cref="Unchanged"/>) are not staged at all, for a merge that needs no key of them: without
    /// deleteMissing only the duplicate check would read them, and when the result says the keys may repeat
    /// (<see cref="CopyResult.MayHaveDuplicateKeys"/>) the caller stages the file again without this. Measured (1M rows, 10% changed):
    /// the 900k key-only rows cost PostgreSQL 1.0 s of CPU to COPY, and their scan and ANALYZE more.
    /// </summary>
    public bool SkipUnchanged { get; init; }

    /// <summary>
    /// Rows go straight into the dataset's table (<see cref="Table"/>, stamped with <see cref="Version"/>) as a merge's new and
    /// changed rows, paired with their live rows by <see cref="Unchanged"/>; the places of the live rows they change are kept
    /// here for the close. Needs <see cref="Unchanged"/> with <see cref="LiveRowHashes.Paired"/> and <see cref="SkipUnchanged"/>.
    /// </summary>
    public PairedLoad? PairedLoad { get; init; }

    /// <summary>
    /// Rows up to which a load into a dataset's table lets PostgreSQL insert row by row (<see cref="Storage.DataTables.RowAtATimeDefault"/>),
    /// counted before the COPY starts: the first rows wait in memory (at most <see cref="CopyRows.RowAtATimeMaxBytes"/>) until the
    /// file ends or passes this count. 0: always buffered inserts.
    /// </summary>
    public int RowAtATimeMaxRows { get; init; }

    /// <summary>Bytes of encoded rows per COPY statement of a paired load (<see cref="SegmentedCopy"/>).</summary>
    public int SegmentBytes { get; init; } = 1 << 20;

    /// <summary>Staged rows identical to a live row are kept as their key, marked in <see cref="KeyedMerge.UnchangedColumn"/>.</summary>
    public bool MarksUnchanged => Unchanged is not null && PairedLoad is null;

    /// <summary>Staged rows carry their live row's place in <see cref="KeyedMerge.LiveColumn"/>.</summary>
    public bool StagesLivePlace => Unchanged is { Paired: true } && PairedLoad is null;
}

/// <summary>
/// Parses rows and streams them into PostgreSQL with binary COPY. Parsing and encoding run on one task while
/// another pushes bytes to the server through a bounded pipe (1 MiB), so parsing overlaps the server's COPY
/// work and memory stays flat whatever the file size.
/// </summary>
internal static class CopyRows
{
    private const int FlushEvery = 1 << 16;

    public const int MaxRecordedErrors = 100;

    /// <summary>
    /// Encoded bytes of the first rows a load into a dataset's table keeps in memory while it counts them
    /// (<see cref="CopyTarget.RowAtATimeMaxRows"/>); past them it loads with buffered inserts whatever the count.
    /// </summary>
    internal const int RowAtATimeMaxBytes = 512 << 10;

    public static async Task<CopyResult> RunAsync(NpgsqlConnection connection, IRowSource source, LoadPlan plan, CopyTarget target,
        ImportProgressCounter progress, CancellationToken cancellationToken)
    {
        string CopySql(bool listsVersionEnd) =>
            $"COPY {target.Table} ({(target.Version is null ? "" : listsVersionEnd ? "_vf, _vt, " : "_vf, ")}{(target.Block is null ? "" : "_block, _seq, ")}"
            + string.Join(", ", plan.Loaded.Select(c => c.Column.Physical))
            + (target.RowHashes ? $", {Storage.DataTables.RowHashColumn}" : "") + (target.MarksUnchanged ? $", {KeyedMerge.UnchangedColumn}" : "")
            + (target.StagesLivePlace ? $", {KeyedMerge.LiveColumn}" : "")
            + $") FROM STDIN (FORMAT BINARY{(target.Freeze ? ", FREEZE" : "")})";
        if (target.PairedLoad is { } pairedLoad)
            return await SegmentedCopy.RunAsync(connection, CopySql(listsVersionEnd: true), target.Table, target.Version!.Value, pairedLoad, target.SegmentBytes,
                (writer, token) => ProduceAsync(source, plan, target, writer, framed: false, listsVersionEnd: null, progress, token), cancellationToken);

        // Whether the COPY lists _vt: known now, except for a counted load, whose producer says once it has counted its first
        // rows; the COPY starts then.
        var listsVersionEnd = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var rowCount = RowCountOf(target);
        if (rowCount != RowCount.Counted) listsVersionEnd.SetResult(rowCount == RowCount.Explicit);
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 1 << 19, useSynchronizationContext: false));
        var sender = SendAsync(connection, listsVersionEnd.Task, CopySql, pipe.Reader, cancellationToken);
        try
        {
            var result = await Task.Run(() => ProduceAsync(source, plan, target, pipe.Writer, framed: true, listsVersionEnd, progress, cancellationToken),
                cancellationToken);
            await pipe.Writer.CompleteAsync();
            await sender;
            return result;
        }
        catch (Exception e)
        {
            // Failed before the count was done (a bad row fails an Alphacast import): no COPY was started.
            listsVersionEnd.TrySetCanceled(CancellationToken.None);
            await pipe.Writer.CompleteAsync(e);
            try { await sender; } catch (Exception) { /* the producer's error is the one to report */ }
            throw;
        }
    }

    /// <summary>Starts the COPY once it is known whether it lists _vt, then streams the rows; cancels it when the rows fail.</summary>
    private static async Task SendAsync(NpgsqlConnection connection, Task<bool> listsVersionEnd, Func<bool, string> copySql, PipeReader reader,
        CancellationToken cancellationToken)
    {
        try
        {
            bool lists;
            try { lists = await listsVersionEnd; }
            catch (OperationCanceledException) { return; }
            await using var copy = await connection.BeginRawBinaryCopyAsync(copySql(lists), cancellationToken);
            try { await reader.CopyToAsync(copy, cancellationToken); }
            catch
            {
                await copy.CancelAsync();
                throw;
            }
        }
        finally { await reader.CompleteAsync(); }
    }

    /// <summary>How rows for a dataset's table carry its <c>_vt</c> column (<see cref="Storage.DataTables.RowAtATimeDefault"/>).</summary>
    private enum RowCount
    {
        /// <summary>The target has no such column (a merge's temporary table).</summary>
        None,
        /// <summary>Every row carries it, NULL: buffered inserts.</summary>
        Explicit,
        /// <summary>The first rows wait in memory without it, counted; then they and the rest go without it (row by row) or with it.</summary>
        Counted,
    }

    /// <summary>How <paramref name="target"/>'s rows carry _vt. A paired load's segments (about a megabyte each) always buffer.</summary>
    private static RowCount RowCountOf(CopyTarget target) =>
        target.Version is null ? RowCount.None
        : target.PairedLoad is not null || target.RowAtATimeMaxRows <= 0 ? RowCount.Explicit
        : RowCount.Counted;

    /// <param name="framed">Write the binary COPY header and trailer (a segmented copy frames each segment itself).</param>
    /// <param name="listsVersionEnd">For a counted load (<see cref="RowCount.Counted"/>): set once its first rows are counted, false
    /// when they all go row by row (the file ended within <see cref="CopyTarget.RowAtATimeMaxRows"/>).</param>
    private static async Task<CopyResult> ProduceAsync(IRowSource source, LoadPlan plan, CopyTarget target, PipeWriter writer, bool framed,
        TaskCompletionSource<bool>? listsVersionEnd, ImportProgressCounter progress, CancellationToken cancellationToken)
    {
        var encoder = new CopyRowEncoder();
        var columns = plan.Loaded.ToArray();
        var rowCount = RowCountOf(target);
        var versionEnds = rowCount == RowCount.Explicit;
        var fieldCount = (short)(columns.Length + (target.Version is null ? 0 : 1) + (versionEnds ? 1 : 0) + (target.Block is null ? 0 : 2)
            + (target.RowHashes ? 1 : 0) + (target.MarksUnchanged ? 1 : 0) + (target.StagesLivePlace ? 1 : 0));
        // The first rows of a counted load, and how many: they wait here until the count says how they go in.
        using var counting = rowCount == RowCount.Counted ? new Storage.PooledBufferWriter(1 << 16) : null;
        var waiting = counting;
        var waitingRows = 0;
        var pairedLoad = target.PairedLoad;
        // A segmented copy cuts its segments at flushes: as often as its segments are small.
        var flushEvery = Math.Min(FlushEvery, target.SegmentBytes);
        var dateIndex = Array.FindIndex(columns, c => c.Column.IsDate);
        using var keyHashes = plan.KeyColumns.Any() ? new KeyHashes() : null;
        using var profile = target.ProfileRows ? new RowProfile(columns) : null;
        int[] fieldStarts = profile is null && target.Unchanged is null ? [] : new int[columns.Length];
        long[]? hashSeeds = target.RowHashes ? [.. columns.Select(RowHash.Seed)] : null;
        bool[] isFloat = [.. columns.Select(c => c.Kind == FieldKind.Float)];
        var keyOnly = target.MarksUnchanged ? new CopyRowEncoder() : null;
        long unchanged = 0;
        var dataStart = 0;
        var errors = new List<RowError>();
        DateTime? minDate = null, maxDate = null;
        long row = 0, kept = 0, rejected = 0, unflushed = 0;

        // One bad row fails the import (Alphacast) or is set aside with its reason (V4's partial imports).
        void Reject(RowError error)
        {
            if (!target.RejectInvalidRows)
            {
                var at = error.Column is null ? $"Row {error.Row}" : $"Row {error.Row}, column '{error.Column}'";
                throw new ImportFailure(JobStatus.Failed, $"{at}: {error.Message}", [error]);
            }
            rejected++;
            if (errors.Count < MaxRecordedErrors) errors.Add(error);
        }

        if (framed) writer.Write(CopyRowEncoder.Header);
        while (await source.ReadAsync())
        {
            row++;
            if (source.RecordError is { } recordError)
            {
                Reject(recordError with { Row = row });
                continue;
            }
            encoder.BeginRow(fieldCount);
            if (target.Version is { } v) encoder.WriteInt32(v);
            if (versionEnds) encoder.WriteNull();
            if (target.Block is { } block)
            {
                encoder.WriteInt32(block);
                encoder.WriteInt64(kept);
            }
            dataStart = encoder.Length;
            DateTime? rowDate = null;
            RowError? fieldError = null;
            ulong keyHash = 0;
            UInt128 rowHash = 0;
            for (var i = 0; i < columns.Length; i++)
            {
                var column = columns[i];
                var start = encoder.Length;
                if (fieldStarts.Length > 0) fieldStarts[i] = start - dataStart;
                var error = Encode(encoder, column, source.GetField(column.SourceIndex), out var date);
                if (error is not null)
                {
                    fieldError = new RowError(row, column.Column.Name, error);
                    break;
                }
                if (i == dateIndex) rowDate = date;
                // Hash the encoded bytes, so equal typed values (not equal spellings) collide, like the database's comparison.
                if (keyHashes is not null && column.Column.IsKey) keyHash = LiveRowHashes.KeyHash(keyHash, encoder.Row[start..]);
                if (hashSeeds is not null) rowHash += RowHash.Term(encoder.Row[start..], hashSeeds[i], isFloat[i]);
            }
            if (fieldError is not null)
            {
                Reject(fieldError);
                continue;
            }
            keyHashes?.Add(keyHash);
            profile?.AddRow(encoder.Row[dataStart..], fieldStarts);
            if (rowDate is { } d)
            {
                if (minDate is null || d < minDate) minDate = d;
                if (maxDate is null || d > maxDate) maxDate = d;
            }
            kept++;
            var encoded = encoder.Row;
            var livePlace = -1L;
            if (target.Unchanged is not null && target.Unchanged.IsUnchanged(keyHash, rowHash, out livePlace))
            {
                unchanged++;
                if (target.SkipUnchanged)
                {
                    if ((row & 0xFFFF) == 0) progress.RowsRead = row;
                    continue;
                }
                // Identical to a live row: the merge needs only its key (duplicates, deleteMissing); no values to copy or compare.
                keyOnly!.BeginRow(fieldCount);
                keyOnly.WriteEncoded(encoded[2..dataStart]);
                for (var i = 0; i < columns.Length; i++)
                {
                    if (!columns[i].Column.IsKey) keyOnly.WriteNull();
                    else keyOnly.WriteEncoded(encoded[(dataStart + fieldStarts[i])..(i + 1 < columns.Length ? dataStart + fieldStarts[i + 1] : encoded.Length)]);
                }
                keyOnly.WriteUuid(rowHash);
                keyOnly.WriteBoolean(true);
                if (target.StagesLivePlace) keyOnly.WriteNull();
                encoded = keyOnly.Row;
            }
            else if (pairedLoad is not null)
            {
                // Straight into the dataset's table: a new key is written; a changed row is written and its live row's place kept
                // for the close, or, without onConflictUpdate, left out like the merge leaves it.
                if (livePlace >= 0 && !pairedLoad.Record(livePlace))
                {
                    if ((row & 0xFFFF) == 0) progress.RowsRead = row;
                    continue;
                }
                encoder.WriteUuid(rowHash);
                encoded = encoder.Row;
            }
            else if (hashSeeds is not null)
            {
                encoder.WriteUuid(rowHash);
                if (keyOnly is not null) encoder.WriteNull();
                if (target.StagesLivePlace)
                {
                    if (livePlace >= 0) encoder.WriteTid(livePlace);
                    else encoder.WriteNull();
                }
                encoded = encoder.Row;
            }
            if (waiting is not null)
            {
                waiting.Write(encoded);
                if (++waitingRows <= target.RowAtATimeMaxRows && waiting.WrittenCount <= RowAtATimeMaxBytes) continue;
                // Past the count: these rows and the rest go in buffered, each with its _vt.
                CopyRowEncoder.WriteWithNullSecondField(waiting.WrittenSpan, writer);
                unflushed += waiting.WrittenCount;
                waiting = null;
                versionEnds = true;
                fieldCount++;
                listsVersionEnd!.TrySetResult(true);
            }
            else
            {
                writer.Write(encoded);
                unflushed += encoded.Length;
            }
            if (unflushed >= flushEvery)
            {
                unflushed = 0;
                progress.RowsRead = row;
                var flushed = await writer.FlushAsync(cancellationToken);
                if (flushed.IsCompleted) break; // the sender stopped; its error surfaces when it is awaited
            }
        }
        if (waiting is not null)
        {
            // The file ended within the count: row by row.
            writer.Write(waiting.WrittenSpan);
            listsVersionEnd!.TrySetResult(false);
        }
        if (framed) writer.Write(CopyRowEncoder.Trailer);
        await writer.FlushAsync(cancellationToken);
        progress.RowsRead = row;
        return new CopyResult(kept, rejected, errors, Format(minDate, plan), Format(maxDate, plan), keyHashes?.MaySeeDuplicates ?? false)
        {
            Figures = profile?.Finish(),
            Unchanged = unchanged,
        };
    }

    private static string? Format(DateTime? value, LoadPlan plan) =>
        value?.ToString(plan.Columns.Any(c => c.IsDate && c.SqlType == "timestamp") ? "yyyy-MM-dd HH:mm:ss" : "yyyy-MM-dd", CultureInfo.InvariantCulture);

    /// <summary>Encodes one field; returns an error message (without row and column) when the value is not acceptable.</summary>
    internal static string? Encode(CopyRowEncoder encoder, LoadColumn column, ReadOnlySpan<char> field, out DateTime date)
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
                // PostgreSQL text cannot hold NUL; say so here, with the row and column, rather than fail the whole COPY later.
                if (value.IndexOfAny('\0', EncodingErrors.InvalidByteMarker) is var bad and >= 0)
                    return value[bad] == '\0' ? "the value contains a NUL character (0x00), which text cannot hold" : EncodingErrors.InvalidByteMessage;
                encoder.WriteText(value);
                return null;
            case FieldKind.Float:
                if ((SimpleDecimals.TryParse(value, out var number) || double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out number))
                    && double.IsFinite(number))
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

    private static string Clip(ReadOnlySpan<char> value) =>
        (value.Length <= 60 ? value.ToString() : string.Concat(value[..57], "...")).Replace(EncodingErrors.InvalidByteMarker, '\uFFFD');
}
