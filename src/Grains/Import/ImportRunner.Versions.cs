using System.Text;
using System.Text.Json;
using Dapper;
using DatasetPlatform.Grains.Abstractions;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Grains.Storage;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace DatasetPlatform.Grains.Import;

/// <summary>The seed-004 version load: an upload that becomes the whole new version of its dataset.</summary>
public sealed partial class ImportRunner
{
    /// <summary>
    /// A seed 004 version upload: the file becomes the whole new version. The first rows type every column (and the first
    /// bytes give the dialect); the load checks the rest against those types and gathers the quality report's figures, so the
    /// file is read once (twice, with an inference pass, when a type breaks further on). The previous version's rows are neither
    /// copied nor written: the new version's floor is its own number (dp.dataset_versions.row_floor, DataTables.VisibleAt), which
    /// hides every row an earlier version inserted. Closing them with an UPDATE wrote a new copy of each one on every version
    /// (many-small: 14-49 ms per version of 2000 rows, more than the COPY of the new rows). Columns keep their physical
    /// column when name and storage type are unchanged, so unchanged columns cost nothing across versions.
    /// </summary>
    private async Task<string> LoadVersionAsync(ImportJobRow job, DatasetRow dataset, LoadStart start, NpgsqlConnection connection,
        NpgsqlTransaction transaction, ImportProgressCounter progress, CancellationToken cancellationToken)
    {
        if (job.StagedFileId is not { } fileId) throw new ImportFailure(JobStatus.Failed, "The upload has no file.");
        async Task<Stream> Open(CancellationToken token)
        {
            var raw = await staging.OpenReadAsync(fileId, token);
            try { return await UploadDecoder.DecompressIfNeededAsync(new CountingStream(raw, bytes => progress.BytesRead = bytes), Limits,
                parquetExpected: job.Format == "parquet", token); }
            catch
            {
                await raw.DisposeAsync(); // it holds a pooled connection
                throw;
            }
        }

        // Parquet carries its own types. CSV is typed from its first rows and the load checks the rest (InferenceResult.Checks);
        // when a column breaks its type further on, the load goes back to a savepoint and runs again with the whole file's types.
        var timer = System.Diagnostics.Stopwatch.StartNew();
        ParquetRowSource? parquet = job.Format == "parquet" ? await ParquetRowSource.OpenAsync(await Open(cancellationToken), Limits, cancellationToken) : null;
        await using var parquetScope = parquet;
        var inference = parquet is not null
            ? new InferenceResult(new CsvDialect(System.Text.Encoding.UTF8, ',', true), parquet.Schema, 0)
            : await TypeInference.InferPrefixAsync(Open, Limits, TypeInference.PrefixRows, cancellationToken);
        var inferMs = timer.ElapsedMilliseconds;
        var version = (dataset.CurrentVersion ?? -1) + 1;
        if (inference.Checks is not null) await transaction.SaveAsync(VersionTypesSavepoint, cancellationToken);
        VersionRows loaded;
        try
        {
            loaded = await LoadVersionRowsAsync(dataset, start.FirstFreeOrdinal, version, inference, parquet, Open, connection, transaction, progress, cancellationToken);
        }
        catch (Exception e) when (inference.Checks is not null && !cancellationToken.IsCancellationRequested
                                  && e is TypeBreak or ImportFailure or DecoderFallbackException)
        {
            // A type that did not hold, or a bad value or byte (then the whole file's types may read it, another encoding too; if
            // not, the second load fails with the same message as it would have).
            LogVersionRetyped(job.Id, dataset.Id, e.Message);
            await transaction.RollbackAsync(VersionTypesSavepoint, cancellationToken);
            inference = (e as TypeBreak)?.Whole ?? await TypeInference.InferAsync(Open, Limits, cancellationToken);
            loaded = await LoadVersionRowsAsync(dataset, start.FirstFreeOrdinal, version, inference, parquet, Open, connection, transaction, progress,
                cancellationToken);
        }
        var (columns, copied) = (loaded.Columns, loaded.Copied);
        // The previous version's rows, all replaced (the catalog's count of them: nothing scans or touches them).
        var closed = start.PreviousRows;
        inference = loaded.Inference;
        if (loaded.Plan.KeyColumns.Any() && copied.MayHaveDuplicateKeys)
            await CheckDuplicatesAsync(connection, transaction, loaded.Plan, $"{dataset.TableName} WHERE _vf = {version}", cancellationToken);
        var loadMs = timer.ElapsedMilliseconds - inferMs;
        var quality = await Analysis.QualityReport.FromFiguresAsync(connection, transaction, dataset.TableName, version, floor: version, columns, inference.Columns,
            copied.Figures!, cancellationToken, NoCommandTimeout);
        var qualityMs = timer.ElapsedMilliseconds - inferMs - loadMs;

        var result = new
        {
            id = job.Id,
            datasetId = dataset.Id,
            version,
            rows = copied.Rows,
            closed,
            columns = StoredColumns.ToJson(columns),
            columnCount = columns.Count,
            quality = JsonSerializer.Serialize(quality),
            description = job.Description ?? (version == 0 ? "Initial upload" : $"Version {version}"),
            status = parquet is not null ? $"Version {version}: {copied.Rows} rows, {columns.Count} columns (Parquet)."
                : $"Version {version}: {copied.Rows} rows, {columns.Count} columns ({inference.Dialect.EncodingName}, " +
                $"delimiter '{(inference.Dialect.Delimiter == '\t' ? "\\t" : inference.Dialect.Delimiter.ToString())}', " +
                (inference.Dialect.HasHeader ? "header row)." : "no header row)."),
            stagedFileId = fileId,
            createdBy = job.CreatedBy,
            minDate = copied.MinDate,
            maxDate = copied.MaxDate,
        };
        await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE dp.datasets SET current_version = @version, columns = @columns::jsonb,
                total_datapoint_count = total_datapoint_count + @rows, updated_at = now()
            WHERE id = @datasetId;
            INSERT INTO dp.dataset_versions (dataset_id, version, row_count, column_count, columns, description, import_job_id, created_by, quality, staged_file_id,
                row_floor)
            VALUES (@datasetId, @version, @rows, @columnCount, @columns::jsonb, @description, @id, @createdBy, @quality::jsonb, @stagedFileId, @version);
            """, result, transaction, cancellationToken: cancellationToken));
        await jobs.FinishAsync(connection, transaction, new ImportOutcome(job.Id, JobStatus.Complete, result.status, copied.Rows, copied.Rows,
            Updated: 0, closed, Rejected: 0, ErrorsJson: null, copied.Rows, ValuesUpdated: 0, ValuesDeleted: 0, copied.Rows, copied.MinDate,
            copied.MaxDate, version, EffectiveManifest: null), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        LogImportCompleted(job.Id, dataset.Id, copied.Rows, copied.Rows, 0, closed);
        LogVersionSteps(job.Id, inferMs, loadMs, qualityMs, timer.ElapsedMilliseconds - inferMs - loadMs - qualityMs,
            copied.Figures!.MayHaveDuplicateRows);
        if (WorthAnalyzing(copied.Rows + closed, closed)) _ = AnalyzeAsync(dataset.TableName);
        return JobStatus.Complete;
    }

    private const string VersionTypesSavepoint = "dp_version_types";

    /// <summary>A version's rows loaded: its columns (typed over the whole file), what the COPY saw.</summary>
    private sealed record VersionRows(IReadOnlyList<StoredColumn> Columns, CopyResult Copied, InferenceResult Inference, LoadPlan Plan);

    /// <summary>
    /// The columns of a version from its types (a column keeps its physical column when name and storage type are unchanged),
    /// and the file loaded into the new one.
    /// </summary>
    private async Task<VersionRows> LoadVersionRowsAsync(DatasetRow dataset, int firstFreeOrdinal, int version, InferenceResult inference,
        ParquetRowSource? parquet, Func<CancellationToken, Task<Stream>> open, NpgsqlConnection connection, NpgsqlTransaction transaction,
        ImportProgressCounter progress, CancellationToken cancellationToken)
    {
        var stored = StoredColumns.FromJson(dataset.Columns);
        var manifest = dataset.Manifest is null ? [] : Manifest.Parse(dataset.Manifest);
        var nextOrdinal = firstFreeOrdinal;
        var columns = new List<StoredColumn>();
        var added = new List<StoredColumn>();
        var loaded = new List<LoadColumn>();
        // Name lookups by key (hash), never by scanning: their cost must grow with the width, not with its square.
        var seen = new HashSet<string>();
        var entries = manifest.Where(e => !e.Ignore).GroupBy(e => ColumnNames.Key(e.SourceName)).ToDictionary(g => g.Key, g => g.First());
        var storedByKey = stored.GroupBy(c => (ColumnNames.Key(c.Name), c.SqlType)).ToDictionary(g => g.Key, g => g.First());
        for (var i = 0; i < inference.Columns.Count; i++)
        {
            var inferred = inference.Columns[i];
            var key = ColumnNames.Key(inferred.Name);
            if (!seen.Add(key))
                throw new ImportFailure(JobStatus.Failed, $"Column '{inferred.Name}' appears more than once in the header.");
            var sqlType = DataTypes.SqlType(inferred.Dtype, inferred.HasTime);
            // A dataset that also has an Alphacast manifest keeps its row key.
            var entry = entries.GetValueOrDefault(key);
            var isDate = entry is { IsDate: true } && inferred.Dtype == DataTypes.Datetime;
            var reuse = storedByKey.GetValueOrDefault((key, sqlType));
            var column = new StoredColumn
            {
                Name = inferred.Name.Trim(),
                SourceName = inferred.Name.Trim(),
                Dtype = inferred.Dtype,
                SqlType = sqlType,
                IsDate = isDate,
                IsEntity = isDate || entry is { IsEntity: true },
                Physical = reuse?.Physical ?? $"c{nextOrdinal++}",
                DateFormat = inferred.DateFormat,
            };
            if (reuse is null) added.Add(column);
            columns.Add(column);
            loaded.Add(LoadPlan.ToLoad(i, column, null));
        }
        var plan = new LoadPlan { Columns = columns, Loaded = loaded, NewColumns = added };
        var created = await EnsureTableAsync(connection, transaction, dataset, plan, firstLoad: true);

        CopyResult copied;
        // A first version's table was created in this transaction, after the type-check savepoint: PostgreSQL allows FREEZE
        // then (the table was created in the current subtransaction; a rollback to the savepoint drops table and rows together),
        // so its pages are written all-visible and no autovacuum rewrites them after the load.
        var target = new CopyTarget(dataset.TableName, version, null, RejectInvalidRows: false, Freeze: created)
            { ProfileRows = true, RowAtATimeMaxRows = Limits.CopyRowAtATimeMaxRows };
        if (parquet is not null)
        {
            copied = await CopyRows.RunAsync(connection, parquet, plan, target, progress, cancellationToken);
        }
        else
        {
            await using var stream = await open(cancellationToken);
            using var source = await CsvRowSource.OpenAsync(TypeInference.Reader(stream, inference.Dialect), inference.Dialect, Limits,
                reportEncodingErrors: true, cancellationToken)
                ?? throw new ImportFailure(JobStatus.Failed, "Data is empty");
            copied = await CopyRows.RunAsync(connection, inference.Checks?.Wrap(source) ?? source, plan, target, progress, cancellationToken);
        }
        if (copied.Rows == 0) throw new ImportFailure(JobStatus.Failed, "Data is empty");
        if (inference.Checks is { } checks)
        {
            // Every row is in: the whole file's types. Storage types held (else Finish throws); category and object, and mixed
            // kinds, are only known now.
            inference = checks.Finish();
            for (var i = 0; i < columns.Count; i++) columns[i] = columns[i] with { Dtype = inference.Columns[i].Dtype };
        }
        return new VersionRows(columns, copied, inference, plan);
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Version import {JobId} of dataset {DatasetId}: the types of the first rows did not hold ({Reason}); loading again with the whole file's types")]
    private partial void LogVersionRetyped(long jobId, long datasetId, string reason);

    [LoggerMessage(Level = LogLevel.Debug,
        Message = "Version import {JobId} steps: types {InferMs} ms, load {LoadMs} ms, quality {QualityMs} ms, commit {CommitMs} ms (rows hashed alike: {HashRepeats})")]
    private partial void LogVersionSteps(long jobId, long inferMs, long loadMs, long qualityMs, long commitMs, bool hashRepeats);
}
