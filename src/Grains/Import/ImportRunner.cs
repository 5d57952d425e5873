using System.Globalization;
using System.Text;
using System.Text.Json;
using Dapper;
using DatasetPlatform.Grains.Abstractions;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Grains.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace DatasetPlatform.Grains.Import;

/// <summary>Live counters of a running import; written by the parse loop, read by status calls.</summary>
public sealed class ImportProgressCounter
{
    private long _rowsRead;
    private long _bytesRead;
    public long RowsRead { get => Volatile.Read(ref _rowsRead); set => Volatile.Write(ref _rowsRead, value); }
    public long BytesRead { get => Volatile.Read(ref _bytesRead); set => Volatile.Write(ref _bytesRead, value); }
}

/// <summary>
/// Runs one import job: staged file -> decoder -> parser -> binary COPY -> set-based checks and merge,
/// all in one transaction that also records the job's outcome. Either the rows, the new version and the
/// job's result commit together, or nothing does, so running a job again after a crash is safe.
/// </summary>
public sealed partial class ImportRunner(NpgsqlDataSource dataSource, IStagedFileStore staging, JobStore jobs, IOptions<ImportLimits> importLimits,
    ILogger<ImportRunner> logger)
{
    private ImportLimits Limits => importLimits.Value;

    /// <summary>
    /// Set-based statements over a whole upload (merge, duplicate check, closing a version, ANALYZE) grow with the data: at
    /// 10M rows they run for longer than Npgsql's 30 s default, and a client-side timeout would be retried as an outage
    /// until the job failed. They have no client-side limit; a silo that dies takes its connection and transaction with it.
    /// </summary>
    internal const int NoCommandTimeout = 0;

    /// <summary>The platform's own meter (exported at /metrics next to Orleans' and ASP.NET Core's).</summary>
    public const string MeterName = "DatasetPlatform";
    private static readonly System.Diagnostics.Metrics.Meter Meter = new(MeterName);
    private static readonly System.Diagnostics.Metrics.Counter<long> ImportsFinished =
        Meter.CreateCounter<long>("dp.imports.finished", description: "Imports that reached a final status, by status and source");
    private static readonly System.Diagnostics.Metrics.Counter<long> RowsLoaded =
        Meter.CreateCounter<long>("dp.rows.loaded", description: "Rows written by imports");

    /// <summary>
    /// Runs the job, which its caller has just marked processing (<see cref="JobStore.MarkProcessingAsync"/>, whose row it is), and
    /// returns its final status. The caller holds an import slot (<see cref="ImportGate"/>).
    /// Only transient errors (<see cref="ImportErrors.IsTransient"/>) propagate, for the caller to retry, and cancellation
    /// (<see cref="OperationCanceledException"/> once <paramref name="cancellationToken"/> is cancelled: the silo is stopping),
    /// after which nothing of the run is committed; a bad file, and any other error, fail the job here with a reason.
    /// </summary>
    public async Task<string> RunAsync(ImportJobRow job, ImportProgressCounter progress, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            var status = await LoadAsync(job, progress, cancellationToken);
            ImportsFinished.Add(1, new KeyValuePair<string, object?>("status", status), new KeyValuePair<string, object?>("source", job.Source));
            RowsLoaded.Add(progress.RowsRead);
            return status;
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping: whatever the cancelled statement threw (a cancelled COPY, 57014, a broken connection), the load's
            // transaction did not commit. Not a failure of the job: the caller hands it back.
            throw new OperationCanceledException("The import was cancelled: its silo is stopping.", cancellationToken);
        }
        catch (Exception e) when (AsDataFailure(e) is { } failure)
        {
            LogImportFailed(job.Id, job.DatasetId, failure.Message);
            await RecordFailureAsync(job.Id, failure, progress.RowsRead);
            ImportsFinished.Add(1, new KeyValuePair<string, object?>("status", failure.Status), new KeyValuePair<string, object?>("source", job.Source));
            return failure.Status;
        }
        catch (Exception e) when (!ImportErrors.IsTransient(e))
        {
            // Neither the file nor an outage: a bug, or a database that does not match the code. It would fail the same way
            // every time, so the job fails now, saying what broke, and the operator gets the whole exception.
            LogImportBroken(e, job.Id, job.DatasetId);
            var failure = new ImportFailure(JobStatus.Failed, $"Internal error while importing: {ImportErrors.Describe(e)}");
            await RecordFailureAsync(job.Id, failure, progress.RowsRead);
            ImportsFinished.Add(1, new KeyValuePair<string, object?>("status", failure.Status), new KeyValuePair<string, object?>("source", job.Source));
            return failure.Status;
        }
    }

    /// <summary>
    /// Errors caused by the file itself fail the job at once (retrying cannot help); anything else is infrastructure
    /// and propagates so the job is retried. PostgreSQL classes 22 (data exception, e.g. a NUL byte in text), 23
    /// (constraint) and 54 (limits, e.g. too many columns) are about the data.
    /// </summary>
    private static ImportFailure? AsDataFailure(Exception e) => e switch
    {
        ImportFailure failure => failure,
        PostgresException { SqlState: var state } p when state.StartsWith("22", StringComparison.Ordinal) || state.StartsWith("23", StringComparison.Ordinal)
            || state.StartsWith("54", StringComparison.Ordinal) => new ImportFailure(JobStatus.Failed, $"The data was refused by the database: {p.MessageText}"),
        InvalidDataException => new ImportFailure(JobStatus.Failed, $"The file cannot be read: {e.Message}"),
        Sylvan.Data.Csv.CsvFormatException => new ImportFailure(JobStatus.Failed, $"The CSV is malformed: {e.Message}"),
        DecoderFallbackException => new ImportFailure(JobStatus.Failed, "The file is not valid UTF-8 text."),
        _ => null,
    };

    private async Task<string> LoadAsync(ImportJobRow job, ImportProgressCounter progress, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var start = await StartLoadAsync(connection, transaction, job);
        if (start.Dataset is not { } dataset || start.Status is not { } status) return JobStatus.Failed;
        if (JobStatus.IsTerminal(status)) return status;

        if (job.Source == JobSources.Version) return await LoadVersionAsync(job, dataset, start, connection, transaction, progress, cancellationToken);

        var manifestJson = ResolveManifest(job, dataset);
        IReadOnlyList<ManifestEntry> manifest;
        try { manifest = Manifest.Parse(manifestJson); }
        catch (ManifestException e) { throw new ImportFailure(JobStatus.Failed, e.Message); }
        var deleteMissing = job.DeleteMissing && !dataset.ManifestLocked;
        var acceptNewColumns = job.AcceptNewColumns && !dataset.ManifestLocked;

        // Alphacast promises that an identical re-upload is skipped; records (V4) and blocks mean "add these again".
        if (job.Source == JobSources.Multipart && IdenticalPrevious(start.LastLoaded, job, manifestJson, deleteMissing, acceptNewColumns) is { } previous)
        {
            await jobs.SkipAsync(connection, transaction, job.Id, manifestJson,
                $"Skipped: identical to process {previous} (same content and flags); nothing changed.");
            await transaction.CommitAsync(cancellationToken);
            return JobStatus.Skipped;
        }

        if (job.StagedFileId is not { } fileId) throw new ImportFailure(JobStatus.Failed, "The upload has no file.");
        var stored = StoredColumns.FromJson(dataset.Columns);
        var rules = RulesFor(job, dataset, acceptNewColumns);
        var schemaColumns = stored.Count > 0 ? stored.Select(c => c.SourceName).ToList() : manifest.Where(e => !e.Ignore).Select(e => e.SourceName).ToList();

        await using var raw = await staging.OpenReadAsync(fileId, cancellationToken);
        var counted = new CountingStream(raw, bytes => progress.BytesRead = bytes);
        using var source = await OpenSourceAsync(counted, schemaColumns, dataset.SchemaStrict, Limits, cancellationToken)
            ?? throw new ImportFailure(JobStatus.Failed, "Data is empty");

        var plan = LoadPlan.Build(source.Columns, manifest, stored, rules, start.FirstFreeOrdinal);
        var keyed = plan.KeyColumns.Any();
        // Both flags match rows by their key. A dataset first loaded as records (V4, blocks) has none: appending instead would
        // duplicate the rows the user asked to update or keep.
        if (job.Source == JobSources.Multipart && (job.OnConflictUpdate || deleteMissing) && !keyed)
            throw new ImportFailure(JobStatus.Failed, "onConflictUpdateDB and deleteMissingFromDB match rows by their Date and entity columns, and this "
                + "dataset has no key: it was first loaded as records (V4 imports or blocks), which are only appended. Upload without these flags to append.");
        var created = await EnsureTableAsync(connection, transaction, dataset, plan, stored.Count == 0, start.HasLiveBlocksIndex, rowHashes: keyed);

        var version = (dataset.CurrentVersion ?? -1) + 1;
        // Keyless rows (V4 records, blocks) only ever append. Keyed rows with no live rows to merge with go straight into the
        // dataset's table too (invisible until the version commits); otherwise they go to a temporary table and merge set-based.
        // Keyed rows carry their row hash when the table has the column (every keyed table created since it exists).
        var (direct, hashed) = !keyed ? (true, false)
            : dataset.CurrentVersion is null && created ? (true, true)
            : await connection.QuerySingleAsync<(bool, bool)>(
                $"""
                SELECT @firstVersion OR NOT EXISTS (SELECT 1 FROM {dataset.TableName} WHERE {DataTables.LiveFrom(start.Floor)}),
                    EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(@table) AND attname = @hashColumn AND NOT attisdropped)
                """, new { firstVersion = dataset.CurrentVersion is null, table = dataset.TableName, hashColumn = DataTables.RowHashColumn }, transaction);
        // A small upload into a dataset that has no live-keys index goes straight into the table and merges there
        // (KeyedMerge.RunInPlaceAsync): no staging table, and no read of the live rows' hashes, which for 2000 rows cost more than
        // staging them (many-small).
        var inPlace = !direct && job.ByteCount <= Limits.MergeInPlaceMaxBytes && start.PreviousRows < Limits.MergeKeyIndexMinRows
            && !KeyedMerge.LacksColumns(plan);
        // A big upload into a dataset whose live rows' hashes fit in memory reads them first, so the rows it has unchanged are
        // staged as keys only (with deleteMissing; otherwise not at all) and stay out of the merge's join (1M rows re-uploaded with
        // 10% changed: see KeyedMerge).
        var unchanged = !direct && !inPlace && hashed && start.PreviousRows <= Limits.MergeRowHashesMaxRows
            && job.ByteCount >= start.PreviousRows * BytesPerLiveRowHashRead
            ? await LiveRowHashes.ReadAsync(connection, dataset.TableName, start.Floor, [.. plan.Loaded.Where(c => c.Column.IsKey).Select(c => c.Column.Physical)],
                keysEncodeExactly: plan.KeyColumns.All(c => c.SqlType != "double precision"), start.PreviousRows, cancellationToken)
            : null;
        long replaced = 0;
        if (job.BlockNumber is { } block)
        {
            // Same block number again: the earlier records of that block end with this version.
            replaced = await connection.ExecuteAsync(new CommandDefinition(
                $"UPDATE {dataset.TableName} SET _vt = @version WHERE {DataTables.LiveFrom(start.Floor)} AND _block = @block",
                new { version, block }, transaction, NoCommandTimeout, cancellationToken: cancellationToken));
        }

        var intoTable = direct || inPlace;
        // The file again from its first row, for a load that must start over in another way.
        async Task<(Stream Raw, IRowSource Source)> ReopenAsync()
        {
            var rawAgain = await staging.OpenReadAsync(fileId, cancellationToken);
            try
            {
                return (rawAgain, await OpenSourceAsync(new CountingStream(rawAgain, bytes => progress.BytesRead = bytes), schemaColumns, dataset.SchemaStrict,
                    Limits, cancellationToken) ?? throw new ImportFailure(JobStatus.Failed, "Data is empty"));
            }
            catch
            {
                await rawAgain.DisposeAsync(); // it may hold a pooled connection
                throw;
            }
        }

        var rejectInvalidRows = job.Source == JobSources.Presigned;
        CopyResult? copied = null;
        MergeCounts? pairedCounts = null;
        var sourceRead = false;
        if (!direct && unchanged is { Paired: true, AllHashed: true } && !deleteMissing && job.BlockNumber is null
            && !KeyedMerge.LacksColumns(plan))
        {
            var pairedLoad = new PairedLoad(job.OnConflictUpdate);
            await transaction.SaveAsync(PairedLoadSavepoint, cancellationToken);
            copied = await CopyRows.RunAsync(connection, source, plan,
                new CopyTarget(dataset.TableName, version, null, rejectInvalidRows, Freeze: false)
                    { RowHashes = true, Unchanged = unchanged, SkipUnchanged = true, PairedLoad = pairedLoad, SegmentBytes = Limits.PairedLoadSegmentBytes },
                progress, cancellationToken);
            // A key that may repeat among rows left out of the table (unchanged, or changed without onConflictUpdate) is only found
            // by a duplicate check over every key: the staged merge below does that.
            var everyKeyWritten = !copied.MayHaveDuplicateKeys || copied.Unchanged + pairedLoad.LeftOut == 0;
            if (everyKeyWritten && copied.MayHaveDuplicateKeys)
                await CheckDuplicatesAsync(connection, transaction, plan, $"{dataset.TableName} WHERE _vf = {version}", cancellationToken);
            if (everyKeyWritten && copied.Rows > 0 && pairedLoad.AllClosed)
            {
                await transaction.ReleaseAsync(PairedLoadSavepoint, cancellationToken);
                var written = copied.Rows - copied.Unchanged - pairedLoad.LeftOut;
                pairedCounts = new MergeCounts(written - pairedLoad.Changed, pairedLoad.Changed, 0);
            }
            else
            {
                await transaction.RollbackAsync(PairedLoadSavepoint, cancellationToken);
                LogPairedLoadUndone(job.Id, dataset.Id);
                copied = null;
                sourceRead = true;
            }
        }

        var stagedHashes = direct ? StagedHashes.None : new StagedHashes(hashed, unchanged is not null, unchanged is { Paired: true });
        if (copied is null)
        {
            if (!intoTable) await connection.ExecuteAsync(KeyedMerge.CreateStageSql(plan, stagedHashes), transaction: transaction);
            var target = new CopyTarget(intoTable ? dataset.TableName : "pg_temp.dp_stage", intoTable ? version : null, job.BlockNumber,
                rejectInvalidRows, Freeze: direct && created)
                { RowHashes = hashed, Unchanged = unchanged, SkipUnchanged = unchanged is not null && !deleteMissing, RowAtATimeMaxRows = Limits.CopyRowAtATimeMaxRows };
            if (sourceRead)
            {
                // The paired load above was undone: its rows were read, so read the file again.
                var (rawAgain, sourceAgain) = await ReopenAsync();
                await using (rawAgain)
                using (sourceAgain)
                    copied = await CopyRows.RunAsync(connection, sourceAgain, plan, target, progress, cancellationToken);
            }
            else copied = await CopyRows.RunAsync(connection, source, plan, target, progress, cancellationToken);
            if (target.SkipUnchanged && copied.MayHaveDuplicateKeys && copied.Unchanged > 0)
            {
                // A key may repeat, and the rows left unstaged could hold one of its copies: the duplicate check needs every key, so the
                // file is staged again with the unchanged rows' keys (an upload that fails on its duplicates, or a rare hash collision).
                await connection.ExecuteAsync(new CommandDefinition("TRUNCATE pg_temp.dp_stage", null, transaction, cancellationToken: cancellationToken));
                var (rawAgain, sourceAgain) = await ReopenAsync();
                await using (rawAgain)
                using (sourceAgain)
                    copied = await CopyRows.RunAsync(connection, sourceAgain, plan, target with { SkipUnchanged = false }, progress, cancellationToken);
            }
        }
        if (copied.Rows == 0 && copied.Rejected == 0) throw new ImportFailure(JobStatus.Failed, "Data is empty");
        if (copied.Rows == 0)
            throw new ImportFailure(JobStatus.Failed, $"All {copied.Rejected} records were rejected.", copied.Errors) { Rejected = copied.Rejected };
        // A paired merge fetches live rows by ctid whatever the statistics say (KeyedMerge): no ANALYZE to plan a join.
        if (pairedCounts is null && !intoTable && !stagedHashes.Paired && copied.Rows >= StageAnalyzeMinRows)
            await connection.ExecuteAsync(new CommandDefinition("ANALYZE pg_temp.dp_stage", null, transaction, NoCommandTimeout, cancellationToken: cancellationToken));

        if (pairedCounts is null && keyed && copied.MayHaveDuplicateKeys)
            await CheckDuplicatesAsync(connection, transaction, plan, intoTable ? $"{dataset.TableName} WHERE _vf = {version}" : "pg_temp.dp_stage", cancellationToken);

        var counts = pairedCounts ?? (direct ? new MergeCounts(copied.Rows, 0, replaced)
            : inPlace ? await KeyedMerge.RunInPlaceAsync(connection, transaction, dataset.Id, plan, start.Floor, version, job.OnConflictUpdate, deleteMissing,
                stagedHashes, cancellationToken)
            : await KeyedMerge.RunAsync(connection, transaction, dataset.Id, plan, copied.Rows, start.PreviousRows, start.Floor, version, job.OnConflictUpdate,
                deleteMissing, stagedHashes, Limits.MergeKeyIndexMinRows, cancellationToken));

        var previousRows = start.PreviousRows;
        var changed = counts.Inserted + counts.Updated + counts.Deleted > 0;
        // A data point is a value in a keyed (Alphacast) dataset and a record in a keyless one.
        var valueColumns = keyed ? plan.ValueColumnCount : 1;
        var presentValueColumns = keyed ? plan.Loaded.Count(c => !c.Column.IsKey) : 1;
        var partial = copied.Rejected > 0;
        var description = Describe(counts, valueColumns, presentValueColumns)
            + (partial ? $" {copied.Rejected} records were rejected." : "");
        var result = new
        {
            id = job.Id,
            datasetId = dataset.Id,
            status = partial ? JobStatus.Partial : JobStatus.Complete,
            version = changed ? version : (int?)null,
            rowsRead = copied.Rows + copied.Rejected,
            inserted = counts.Inserted,
            updated = counts.Updated,
            deleted = counts.Deleted,
            rejected = copied.Rejected,
            errors = partial ? ErrorsJson(copied.Errors) : null,
            valuesInserted = counts.Inserted * valueColumns,
            valuesUpdated = counts.Updated * presentValueColumns,
            valuesDeleted = counts.Deleted * valueColumns,
            valuesTotal = copied.Rows * presentValueColumns,
            minDate = copied.MinDate,
            maxDate = copied.MaxDate,
            columns = StoredColumns.ToJson(plan.Columns),
            manifest = job.Manifest,
            effectiveManifest = manifestJson,
            rowCount = previousRows + counts.Inserted - counts.Deleted,
            columnCount = plan.Columns.Count,
            description,
            versionDescription = $"Import {job.Id}" + (job.FileName is null ? "" : $" ({job.FileName})"),
            createdBy = job.CreatedBy,
            // An append or a merge leaves the rows below the floor where the last replace put them.
            rowFloor = start.Floor,
        };
        await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE dp.datasets SET current_version = COALESCE(@version, current_version), columns = @columns::jsonb,
                manifest = COALESCE(@manifest::jsonb, manifest), total_datapoint_count = total_datapoint_count + @valuesInserted,
                updated_at = now()
            WHERE id = @datasetId;
            INSERT INTO dp.dataset_versions (dataset_id, version, row_count, column_count, columns, description, import_job_id, created_by, row_floor)
            SELECT @datasetId, @version, @rowCount, @columnCount, @columns::jsonb, @versionDescription, @id, @createdBy, @rowFloor WHERE @version IS NOT NULL;
            """, result, transaction, cancellationToken: cancellationToken)); // a stopping silo cancels it too, even while it waits for a lock
        await jobs.FinishAsync(connection, transaction, new ImportOutcome(job.Id, result.status, description, result.rowsRead, counts.Inserted,
            counts.Updated, counts.Deleted, copied.Rejected, result.errors, result.valuesInserted, result.valuesUpdated, result.valuesDeleted,
            result.valuesTotal, copied.MinDate, copied.MaxDate, result.version, manifestJson), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        LogImportCompleted(job.Id, dataset.Id, copied.Rows, counts.Inserted, counts.Updated, counts.Deleted);

        // Fresh planner statistics for the next merge and for reads; in the background, so the next import need not wait.
        if (WorthAnalyzing(counts.Inserted + counts.Updated + counts.Deleted, previousRows)) _ = AnalyzeAsync(dataset.TableName);
        if (unchanged is { Count: >= ReturnHeapAfterLiveRows }) _ = Task.Run(ReturnHeapToSystem, CancellationToken.None);
        return result.status;
    }

    /// <summary>Where a paired load (<see cref="PairedLoad"/>) goes back to when it must give way to the staged merge.</summary>
    private const string PairedLoadSavepoint = "dp_paired_load";

    /// <summary>What a load reads first, under its locks (<see cref="StartLoadAsync"/>); Dataset or Status null: the dataset or the job is gone.</summary>
    private sealed record LoadStart(DatasetRow? Dataset, string? Status, int FirstFreeOrdinal, long PreviousRows, int Floor, ImportJobRow? LastLoaded,
        bool HasLiveBlocksIndex);

    /// <summary>
    /// Everything a load reads before the file, in one round trip (a small import is otherwise mostly round trips): the
    /// transaction's settings, the dataset row and the job row, locked, the next free physical column (<see cref="LoadPlan.Build"/>:
    /// one past the highest c{n} the table has ever had, 0 without a table) and whether the live-blocks index exists (read with it,
    /// so a block import runs no CREATE INDEX IF NOT EXISTS), the live row count and the row floor of the current version, and for Alphacast the last
    /// job that loaded or was skipped (an identical re-upload is skipped).
    /// </summary>
    private static async Task<LoadStart> StartLoadAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, ImportJobRow job)
    {
        var lastLoaded = job.Source == JobSources.Multipart;
        await using var results = await connection.QueryMultipleAsync(
            // Hash aggregates over a whole upload (duplicate check, merge) should stay in memory. Parallel plans only add overhead on
            // the small machines this targets (measured: 2.6 s vs 1.6 s for a 1M-row GROUP BY). set_config(..., true) is SET LOCAL.
            "SELECT set_config('work_mem', '256MB', true), set_config('max_parallel_workers_per_gather', '0', true);"
            // The row lock serializes this import against deletes and against a duplicate run on another silo. NO KEY UPDATE, not
            // UPDATE: new uploads to this dataset insert rows that reference it (a KEY SHARE lock), and must not wait for us.
            + "SELECT * FROM dp.datasets WHERE id = @datasetId FOR NO KEY UPDATE;"
            + "SELECT status FROM dp.import_jobs WHERE id = @jobId FOR UPDATE;"
            + """
            SELECT COALESCE(max(substring(attname FROM 2)::int) + 1, 0), to_regclass(@blocksIndex) IS NOT NULL FROM pg_attribute
            WHERE attrelid = to_regclass(@table) AND attnum > 0 AND NOT attisdropped AND attname ~ '^c[0-9]+$';
            """
            + """
            SELECT COALESCE(max(v.row_count), 0), COALESCE(max(v.row_floor), 0) FROM dp.dataset_versions v
                JOIN dp.datasets d ON d.id = v.dataset_id AND v.version = d.current_version WHERE d.id = @datasetId;
            """
            + (lastLoaded ? """
                SELECT * FROM dp.import_jobs WHERE dataset_id = @datasetId AND id < @jobId AND status IN ('complete', 'partial', 'skipped')
                ORDER BY queue_seq DESC, id DESC LIMIT 1;
                """ : ""),
            new
            {
                datasetId = job.DatasetId, jobId = job.Id, table = DataTables.QualifiedName(job.DatasetId),
                blocksIndex = $"{DataTables.Schema}.{DataTables.LiveBlocksIndexName(job.DatasetId)}",
            }, transaction);
        await results.ReadAsync();
        var dataset = await results.ReadSingleOrDefaultAsync<DatasetRow>();
        var status = await results.ReadSingleOrDefaultAsync<string>();
        var (firstFreeOrdinal, hasLiveBlocksIndex) = await results.ReadSingleAsync<(int, bool)>();
        var (previousRows, floor) = await results.ReadSingleAsync<(long, int)>();
        var last = lastLoaded ? await results.ReadSingleOrDefaultAsync<ImportJobRow>() : null;
        return new LoadStart(dataset, status, firstFreeOrdinal, previousRows, floor, last, hasLiveBlocksIndex);
    }

    /// <summary>
    /// Staged rows from which a merge analyzes its temporary table first. Below it the planner's estimate from the table's size
    /// (never analyzed: its pages, at least 10) plans the merge's join as with statistics: EXPLAIN of the classifying join, 2000
    /// staged rows against 20k and 1M live ones, and 99k against 1M, gave the same hash left join (live rows hashed) with or
    /// without ANALYZE. The ANALYZE was a large part of a small merge's fixed cost (many-small). Big merges keep it: with the
    /// statistics the staged side is hashed at 1M against 1M; measured (10% changed, backend CPU): ANALYZE 0.44 s, then the
    /// merge 3.8-3.9 s, against 4.4-4.5 s without.
    /// </summary>
    internal const long StageAnalyzeMinRows = 100_000;

    /// <summary>
    /// Upload bytes per live row from which a merge reads the live rows' hashes first (<see cref="LiveRowHashes"/>): reading them
    /// costs about as much per live row as staging a few bytes of upload, so a small upsert into a big dataset (2,000 rows into
    /// 1M) does without, and a re-upload of the whole dataset (about 100 bytes per row, or 50 gzipped) reads them.
    /// </summary>
    private const long BytesPerLiveRowHashRead = 8;

    /// <summary>
    /// Live rows read (<see cref="LiveRowHashes"/>, 24 bytes each) from which an import gives the heap back once it is done. The
    /// GC keeps a big merge's freed arrays mapped: each 1M-row re-upload left the process about 30 MB bigger, and the next import
    /// started from there (bench/ingest.sh: 249, 278, then 316 MB, over the 300 MB target). One aggressive collection after
    /// such an import returns them; off the import's thread, and only after the imports that read at least this many rows.
    /// </summary>
    internal const int ReturnHeapAfterLiveRows = 250_000;

    internal static void ReturnHeapToSystem() =>
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);

    /// <summary>Rows an import must change, at least, before it runs ANALYZE itself; smaller loads leave it to autovacuum.</summary>
    internal const long AnalyzeMinChangedRows = 50_000;

    /// <summary>
    /// Whether an import that changed <paramref name="changedRows"/> rows of a dataset that had <paramref name="previousRows"/>
    /// live rows analyzes the table: only a big load (at least <see cref="AnalyzeMinChangedRows"/>, and a tenth of what was there,
    /// autovacuum's own proportion) moves the planner's estimates enough to matter for the next merge. Measured (many-small, 2
    /// cores): an ANALYZE after every 2000-row upload cost ~120 ms of PostgreSQL CPU each, the largest share of the whole run,
    /// unbounded by the import slots; autovacuum's auto-analyze covers the small ones.
    /// </summary>
    internal static bool WorthAnalyzing(long changedRows, long previousRows) =>
        changedRows >= AnalyzeMinChangedRows && changedRows * 10 >= previousRows;

    private async Task AnalyzeAsync(string table)
    {
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            await connection.ExecuteAsync($"ANALYZE {table}", commandTimeout: NoCommandTimeout);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
        {
            LogAnalyzeFailed(e, table); // statistics are an optimisation; autovacuum will catch up
        }
    }

    private static string ResolveManifest(ImportJobRow job, DatasetRow dataset)
    {
        if (job.Manifest is not null && dataset.ManifestLocked && dataset.Manifest is not null && !JsonEquals(job.Manifest, dataset.Manifest))
            throw new ImportFailure(JobStatus.Failed, "The dataset's manifest is locked; unlock it before uploading a different manifest.");
        return job.Manifest ?? dataset.Manifest ?? throw new ImportFailure(JobStatus.PendingSchema, "Dataset has no manifest");
    }

    private static bool JsonEquals(string a, string b)
    {
        using var x = JsonDocument.Parse(a);
        using var y = JsonDocument.Parse(b);
        return JsonElement.DeepEquals(x.RootElement, y.RootElement);
    }

    /// <summary>The job before this one that loaded (or was skipped), when it had the same content, flags and manifest.</summary>
    private static long? IdenticalPrevious(ImportJobRow? last, ImportJobRow job, string manifestJson, bool deleteMissing, bool acceptNewColumns)
    {
        if (last?.ContentSha256 is null || job.ContentSha256 is null) return null;
        var same = last.ContentSha256.AsSpan().SequenceEqual(job.ContentSha256)
            && last.DeleteMissing == deleteMissing && last.OnConflictUpdate == job.OnConflictUpdate && last.AcceptNewColumns == acceptNewColumns
            // A changed manifest (sent with the upload or set in between) makes it a different upload.
            && last.Manifest is not null && JsonEquals(last.Manifest, manifestJson);
        return same ? last.Id : null;
    }

    private static async Task<IRowSource?> OpenSourceAsync(Stream raw, IReadOnlyList<string> schemaColumns, bool strictFields, ImportLimits limits,
        CancellationToken cancellationToken)
    {
        try
        {
            var decoded = await UploadDecoder.DecompressIfNeededAsync(raw, limits, parquetExpected: false, cancellationToken);
            return await RowSourceFactory.OpenAsync(decoded, schemaColumns, strictFields, limits, cancellationToken);
        }
        catch (InvalidDataException e)
        {
            throw new ImportFailure(JobStatus.Failed, $"The file cannot be read: {e.Message}");
        }
    }

    /// <summary>The header rules of the surface the upload came through.</summary>
    private static LoadRules RulesFor(ImportJobRow job, DatasetRow dataset, bool acceptNewColumns) => job.Source switch
    {
        // Block datasets are ordered records whatever door a load came through: no key, no duplicate check, no merge.
        _ when dataset.IsBlocks => BlockRecords.Rules,
        JobSources.Multipart => new LoadRules(RequireDate: true, SchemaDefinesColumns: false, acceptNewColumns ? UnknownColumns.Accept : UnknownColumns.Fail,
            RowKeys.Manifest),
        _ => new LoadRules(RequireDate: false, SchemaDefinesColumns: true, dataset.SchemaStrict ? UnknownColumns.Fail : UnknownColumns.Ignore, RowKeys.Existing),
    };

    private static string ErrorsJson(IEnumerable<RowError> errors) =>
        JsonSerializer.Serialize(errors.Select(e => new { row = e.Row, column = e.Column is null ? null : Storable(e.Column), message = Storable(e.Message) }));

    /// <summary>
    /// Text fit for a text or jsonb column: reasons quote the file's values and names, and PostgreSQL refuses NUL in both,
    /// which made recording the failure fail too and left the job processing forever.
    /// </summary>
    private static string Storable(string text) => text.Replace('\0', '\uFFFD');

    /// <summary>Creates the dataset's table on its first load and adds the plan's new columns; true when this transaction created it.</summary>
    private static async Task<bool> EnsureTableAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, DatasetRow dataset, LoadPlan plan, bool firstLoad,
        bool hasLiveBlocksIndex = false, bool rowHashes = false)
    {
        // Row versions: a row is visible in version v when floor(v) <= _vf <= v and (_vt is null or _vt > v). No index: loads stay
        // append-only and fast; reads scan, which COPY TO does at full speed.
        var newColumns = string.Join(", ", plan.NewColumns.Select(c => $"ADD COLUMN IF NOT EXISTS {c.Physical} {c.SqlType}"));
        // Block datasets also keep each row's block number and its position in the block: reads order by them.
        var blockColumns = dataset.IsBlocks ? ", _block integer NOT NULL, _seq bigint NOT NULL" : "";
        var created = false;
        if (firstLoad)
        {
            created = await connection.ExecuteScalarAsync<bool>("SELECT to_regclass(@table) IS NULL", new { table = dataset.TableName }, transaction);
            // A keyed dataset's rows keep their row hash (RowHash), which the keyed merge compares instead of their values.
            var hashColumn = rowHashes ? $", {DataTables.RowHashColumn} uuid NULL" : "";
            // Autovacuum analyzes a table once 50 rows plus a tenth of it changed: every new dataset's table after its first small
            // upload, and again and again while small uploads follow (many-small: a tenth of PostgreSQL's CPU went to these
            // ANALYZEs of tables a seq scan reads anyway). Here it waits for 50000 rows plus a tenth, the import's own bar for an
            // ANALYZE (WorthAnalyzing: 50000 that are also a tenth); a big load still analyzes at once. deploy/sql/008 sets older tables.
            await connection.ExecuteAsync($"CREATE TABLE IF NOT EXISTS {dataset.TableName} (_vf integer NOT NULL, _vt integer NULL DEFAULT ({DataTables.RowAtATimeDefault}){blockColumns}{hashColumn}) "
                + $"WITH (autovacuum_analyze_threshold = {AnalyzeMinChangedRows})", transaction: transaction);
        }
        // Replacing a block looks up that block's live rows; blocks are small, so keeping this index costs little. Created once,
        // with the table (or the first block import that finds it missing); a statement per import before (many-small).
        if (dataset.IsBlocks && !hasLiveBlocksIndex)
            await connection.ExecuteAsync($"CREATE INDEX IF NOT EXISTS {DataTables.LiveBlocksIndexName(dataset.Id)} ON {dataset.TableName} (_block) WHERE _vt IS NULL",
                transaction: transaction);
        if (newColumns.Length > 0)
        {
            // Physical columns are never reused or dropped (earlier versions still read them), and PostgreSQL counts even
            // dropped ones against its 1600, so the limit is on every data column the table has ever had.
            var existing = await connection.ExecuteScalarAsync<int>(
                "SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass(@table) AND attnum > 0 AND attname !~ '^_'",
                new { table = dataset.TableName }, transaction);
            if (existing + plan.NewColumns.Count > DatasetLimits.MaxColumns)
                throw new ImportFailure(JobStatus.Failed,
                    $"The upload would give the dataset {existing + plan.NewColumns.Count} columns ({plan.NewColumns.Count} new, {existing} kept for this or " +
                    $"earlier versions); a dataset holds at most {DatasetLimits.MaxColumns} columns.");
            await connection.ExecuteAsync($"ALTER TABLE {dataset.TableName} {newColumns}", transaction: transaction);
        }
        return created;
    }

    private static async Task CheckDuplicatesAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, LoadPlan plan, string sourceSql,
        CancellationToken cancellationToken)
    {
        var keys = StoredColumns.InOutputOrder(plan.Columns).Where(c => c.IsKey).ToList();
        var keyList = string.Join(", ", keys.Select(k => k.Physical));
        var examples = new List<string>();
        await using (var command = new NpgsqlCommand($"SELECT {keyList}, count(*) FROM {sourceSql} GROUP BY {keyList} HAVING count(*) > 1 LIMIT 10", connection, transaction)
            { CommandTimeout = NoCommandTimeout })
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var parts = keys.Select((k, i) => $"{k.Name}={FormatValue(reader.GetValue(i))}");
                examples.Add($"({string.Join(", ", parts)}) x{reader.GetInt64(keys.Count)}");
            }
        }
        if (examples.Count == 0) return;
        var duplicated = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            $"SELECT COALESCE(sum(n), 0) FROM (SELECT count(*) AS n FROM {sourceSql} GROUP BY {keyList} HAVING count(*) > 1) d", null, transaction, NoCommandTimeout,
            cancellationToken: cancellationToken));
        throw new ImportFailure(JobStatus.Failed, $"{duplicated} rows are duplicated. First 10 rows as example: {string.Join("; ", examples)}");
    }

    private static string Describe(MergeCounts counts, int valueColumns, int presentValueColumns)
    {
        var text = $"{counts.Inserted * valueColumns} values added to database.";
        if (counts.Updated > 0) text += $" {counts.Updated * presentValueColumns} values updated.";
        if (counts.Deleted > 0) text += $" {counts.Deleted * valueColumns} values deleted.";
        return text;
    }

    private Task RecordFailureAsync(long jobId, ImportFailure failure, long rowsRead) =>
        jobs.FailAsync(jobId, new ImportFailureRecord(failure.Status, Storable(failure.Message), ErrorsJson(failure.Errors.Take(CopyRows.MaxRecordedErrors)),
            Math.Max(failure.Rejected, failure.Errors.Count), rowsRead));

    internal static string FormatValue(object? value) => value switch
    {
        null or DBNull => "",
        DateTime d when d.TimeOfDay == TimeSpan.Zero => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        DateTime d => d.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
        DateOnly d => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    [LoggerMessage(Level = LogLevel.Debug, Message = "ANALYZE {Table} failed")]
    private partial void LogAnalyzeFailed(Exception exception, string table);

    [LoggerMessage(Level = LogLevel.Information, Message = "Import {JobId} of dataset {DatasetId}: the rows loaded by their live rows' places were undone (a key may repeat, or a place did not hold); merging through the staging table")]
    private partial void LogPairedLoadUndone(long jobId, long datasetId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Import {JobId} of dataset {DatasetId} failed with an internal error; it is not retried")]
    private partial void LogImportBroken(Exception exception, long jobId, long datasetId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Import {JobId} of dataset {DatasetId} failed: {Reason}")]
    private partial void LogImportFailed(long jobId, long datasetId, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Import {JobId} of dataset {DatasetId} complete: {Rows} rows read, {Inserted} inserted, {Updated} updated, {Deleted} deleted")]
    private partial void LogImportCompleted(long jobId, long datasetId, long rows, long inserted, long updated, long deleted);
}
