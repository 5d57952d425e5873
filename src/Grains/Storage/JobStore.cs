using Dapper;
using DatasetPlatform.Grains.Abstractions;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace DatasetPlatform.Grains.Storage;

/// <summary>What an upload asks for; the job row is created from it, with its staged file complete, in one transaction.</summary>
public sealed record ImportRequest(
    long DatasetId,
    string Source,
    string? FileName,
    bool DeleteMissing,
    bool OnConflictUpdate,
    bool AcceptNewColumns,
    string? ManifestJson,
    string? CreatedBy,
    string? Format = null,
    int? BlockNumber = null,
    string? Description = null);

/// <summary>
/// Import job rows. The queue of a dataset is "its jobs still queued or processing, by id", so a job is
/// durably enqueued the moment its row commits, together with its staged file.
/// This class is the one owner of a job's status: every change is one method below (see "Status changes"), guarded in its
/// WHERE clause by the states it may leave, and called by the job grain and the import runner only (plus the upload commit
/// that queues a presigned job and the sweep that expires unsent presigned uploads, neither of which a grain owns yet).
/// </summary>
public sealed partial class JobStore(NpgsqlDataSource dataSource, IStagedFileStore staging, ILogger<JobStore> logger)
{
    /// <summary>
    /// Starts an upload: its file is staged chunk by chunk (no connection held while the client sends), and the job is
    /// created with it, complete, in one short transaction at the end. Nothing of an upload that is not committed remains.
    /// </summary>
    public Task<UploadSession> BeginUploadAsync(CancellationToken cancellationToken) => Task.FromResult(new UploadSession(dataSource, staging, this));

    /// <summary>
    /// Takes a presigned URL's single use for an upload that is starting: creates the incomplete staged file the PUT will
    /// fill and records it as the job's upload in one short transaction. Fails when the job already has its file, or when
    /// another PUT on the URL is still streaming (its unfinished file exists). The claim is released when that file is
    /// deleted (the upload failed, or was swept as abandoned), so a failed upload can be retried on the same URL.
    /// </summary>
    public async Task<PresignedClaim> ClaimPresignedUploadAsync(long jobId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var job = await connection.QuerySingleOrDefaultAsync<(long DatasetId, string Status, string? FileName, Guid? UploadFileId)>(
            // The claim commits without waiting for the WAL flush (set_config: SET LOCAL in this statement): lost with a crash of
            // PostgreSQL, the upload finds no claim to fill or commit and fails (no answer but an error, nothing acknowledged lost);
            // the upload's own commit is synchronous and flushes the claim with it.
            $"SELECT dataset_id, status, file_name, upload_file_id FROM dp.import_jobs WHERE id = @jobId AND {AsyncCommit.ForThisTransaction} IS NOT NULL FOR UPDATE",
            new { jobId }, transaction);
        if (job.Status is null) return new PresignedClaim(PresignedClaimOutcome.Gone, null, 0, "");
        if (job.Status != Abstractions.JobStatus.Uninitialised) return new PresignedClaim(PresignedClaimOutcome.AlreadyUsed, null, job.DatasetId, "");
        if (job.UploadFileId is not null) return new PresignedClaim(PresignedClaimOutcome.InProgress, null, job.DatasetId, "");
        var fileId = Guid.NewGuid();
        var fileName = job.FileName ?? "upload";
        await connection.ExecuteAsync(StagingStore.InsertFileSql, new { id = fileId, ds = (long?)job.DatasetId, name = fileName }, transaction);
        await connection.ExecuteAsync("UPDATE dp.import_jobs SET upload_file_id = @fileId, updated_at = now() WHERE id = @jobId", new { fileId, jobId }, transaction);
        await transaction.CommitAsync(cancellationToken);
        return new PresignedClaim(PresignedClaimOutcome.Claimed, fileId, job.DatasetId, fileName);
    }

    /// <summary>A presigned upload: the job exists (uninitialised, outside the queue) before its file does.</summary>
    public async Task<ImportJobRow> CreateAwaitingFileAsync(long datasetId, string fileName, string format, DateTime expiresAt, string createdBy)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.QuerySingleAsync<ImportJobRow>(
            """
            INSERT INTO dp.import_jobs (dataset_id, source, format, file_name, status, upload_expires_at, created_by, queue_seq)
            VALUES (@datasetId, 'presigned', @format, @fileName, 'uninitialised', @expiresAt, @createdBy, NULL) RETURNING *
            """, new { datasetId, fileName, format, expiresAt, createdBy });
    }

    public async Task<ImportJobRow?> GetAsync(long id)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.QuerySingleOrDefaultAsync<ImportJobRow>("SELECT * FROM dp.import_jobs WHERE id = @id", new { id });
    }

    /// <summary>One page (by id) of the dataset's jobs, and how many it has in all.</summary>
    public async Task<(IReadOnlyList<ImportJobRow> Items, long Total)> ListAsync(long datasetId, int limit, int offset)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var parameters = new { datasetId, limit, offset };
        var total = await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM dp.import_jobs WHERE dataset_id = @datasetId", parameters);
        var items = await connection.QueryAsync<ImportJobRow>(
            "SELECT * FROM dp.import_jobs WHERE dataset_id = @datasetId ORDER BY id LIMIT @limit OFFSET @offset", parameters);
        return ([.. items], total);
    }

    // Status changes. uninitialised -> queued (QueueUploadedFile) -> processing (MarkProcessing) -> complete | partial (Finish),
    // skipped (Skip), failed | pending_schema (Fail); processing -> queued (HandBack, a stopping silo); uninitialised -> failed
    // (ExpireUnsentUploads). Terminal states are never left. Each returns whether the change applied; a refused one is logged.

    /// <summary>
    /// The run got its import slot and starts loading: queued (or processing, a run started again) -> processing; returns the job
    /// as it is now, or null when the change was refused. <paramref name="firstRunOfActivation"/>: the first run of the job by this
    /// activation of its grain. A job such a run finds still processing was being loaded by a run that never came back (its silo
    /// died: a stopping silo hands its job back to queued), and that is counted in the job's <c>crashes</c>, in the same statement.
    /// Commits without waiting for the WAL flush (like a staged chunk): lost only if PostgreSQL itself crashes within the
    /// WAL writer's delay, and then the job is merely queued again; the load's own commit, which is synchronous, flushes it too.
    /// </summary>
    public async Task<ImportJobRow?> MarkProcessingAsync(long jobId, bool firstRunOfActivation)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var job = await connection.QuerySingleOrDefaultAsync<ImportJobRow>(
            $"""
            UPDATE dp.import_jobs SET status = 'processing', started_at = COALESCE(started_at, now()), updated_at = now(),
                crashes = crashes + CASE WHEN @firstRunOfActivation AND status = 'processing' THEN 1 ELSE 0 END
            WHERE id = @jobId AND status IN ('queued', 'processing') AND {AsyncCommit.ForThisTransaction} IS NOT NULL
            RETURNING *
            """, new { jobId, firstRunOfActivation });
        Applied(job is null ? 0 : 1, jobId, nameof(MarkProcessingAsync));
        return job;
    }

    /// <summary>
    /// A presigned job's file has arrived: uninitialised -> queued, with the file and a queue position, in the upload's
    /// transaction. False when the job is no longer waiting for this file (gone, expired, or another PUT won its claim).
    /// </summary>
    internal async Task<bool> QueueUploadedFileAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, long jobId, StagedFile file)
    {
        // The position is taken under the dataset's queue lock, as every upload's is (QueuePositions).
        await connection.ExecuteAsync(QueuePositions.LockQueueOfJobSql, new { jobId }, transaction);
        var changed = await connection.ExecuteAsync(
            """
            UPDATE dp.import_jobs SET staged_file_id = @stagedId, content_sha256 = @sha, byte_count = @bytes, status = 'queued',
                queue_seq = nextval('dp.import_queue_seq'), updated_at = now()
            WHERE id = @jobId AND status = 'uninitialised' AND upload_file_id = @stagedId
            """, new { jobId, stagedId = file.Id, sha = file.Sha256, bytes = file.ByteCount }, transaction);
        return Applied(changed, jobId, nameof(QueueUploadedFileAsync));
    }

    /// <summary>
    /// An identical re-upload: -> skipped, and its staged bytes go. In the runner's transaction, which holds the job row.
    /// </summary>
    public async Task<bool> SkipAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, long jobId, string manifestJson, string description)
    {
        var changed = await connection.ExecuteScalarAsync<int>(
            $"""
            WITH changed AS (
                UPDATE dp.import_jobs SET status = 'skipped', status_description = @description, manifest = @manifest::jsonb,
                    processed_at = clock_timestamp(), updated_at = clock_timestamp()
                WHERE id = @jobId AND status IN ('queued', 'processing')
                RETURNING id, staged_file_id)
            {DropUnversionedFileSql}
            """, new { jobId, manifest = manifestJson, description }, transaction);
        return Applied(changed, jobId, nameof(SkipAsync));
    }

    /// <summary>
    /// The rows are loaded: -> complete or partial with what was loaded, in the runner's transaction (the one that loaded the
    /// rows and holds the job row), so the outcome commits with the rows or not at all. Throws when the job is no longer
    /// pending, which rolls the load back: the row lock makes that impossible unless the code is wrong.
    /// </summary>
    public async Task FinishAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, ImportOutcome outcome, CancellationToken cancellationToken)
    {
        if (outcome.Status is not (JobStatus.Complete or JobStatus.Partial))
            throw new ArgumentException($"An import finishes complete or partial, not {outcome.Status}.", nameof(outcome));
        var changed = await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE dp.import_jobs SET status = @Status, status_description = @Description, rows_read = @RowsRead,
                rows_inserted = @Inserted, rows_updated = @Updated, rows_deleted = @Deleted, rows_rejected = @Rejected,
                values_inserted = @ValuesInserted, values_updated = @ValuesUpdated, values_deleted = @ValuesDeleted, values_total = @ValuesTotal,
                min_date = @MinDate, max_date = @MaxDate, version_produced = @Version, errors = @ErrorsJson::jsonb, error_count = @Rejected,
                manifest = COALESCE(@EffectiveManifest::jsonb, manifest),
                processed_at = clock_timestamp(), updated_at = clock_timestamp()
            WHERE id = @JobId AND status IN ('queued', 'processing')
            """, outcome, transaction, cancellationToken: cancellationToken));
        if (!Applied(changed, outcome.JobId, nameof(FinishAsync)))
            throw new InvalidOperationException($"Import {outcome.JobId} was no longer pending when its rows were loaded; the load is rolled back.");
    }

    /// <summary>
    /// The import cannot load: -> failed (or pending_schema), with the reason and the first row errors, and its staged bytes
    /// go. On its own connection: the load's transaction, if there was one, is rolled back.
    /// </summary>
    public async Task<bool> FailAsync(long jobId, ImportFailureRecord failure)
    {
        if (failure.Status is not (JobStatus.Failed or JobStatus.PendingSchema))
            throw new ArgumentException($"An import fails as failed or pending_schema, not {failure.Status}.", nameof(failure));
        await using var connection = await dataSource.OpenConnectionAsync();
        var changed = await connection.ExecuteScalarAsync<int>(
            $"""
            WITH changed AS (
                UPDATE dp.import_jobs SET status = @Status, status_description = @Message, reason = @Message,
                    errors = @ErrorsJson::jsonb, error_count = @ErrorCount, rows_read = @RowsRead, rows_rejected = @ErrorCount,
                    processed_at = clock_timestamp(), updated_at = clock_timestamp()
                WHERE id = @JobId AND status IN ('queued', 'processing')
                RETURNING id, staged_file_id)
            {DropUnversionedFileSql}
            """, new { JobId = jobId, failure.Status, Message = Storable(failure.Message), failure.ErrorsJson, failure.ErrorCount, failure.RowsRead });
        return Applied(changed, jobId, nameof(FailAsync));
    }

    /// <summary>
    /// A stopping silo gives back the import it was running (its transaction rolled back, nothing loaded): processing -> queued,
    /// keeping its place at the head of its dataset's queue, so another silo runs it next. A job still queued (it was waiting
    /// for an import slot) needs no change.
    /// </summary>
    public async Task<bool> HandBackAsync(long jobId)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var changed = await connection.ExecuteAsync(
            "UPDATE dp.import_jobs SET status = 'queued', updated_at = now() WHERE id = @jobId AND status = 'processing'", new { jobId });
        if (changed > 0) LogHandedBack(jobId);
        return changed > 0;
    }

    /// <summary>
    /// Presigned imports whose URL expired a day ago without a file will never get one: uninitialised -> failed, so their status
    /// says so. The day's grace lets an upload that started before expiry finish streaming a large file.
    /// </summary>
    public async Task<int> ExpireUnsentUploadsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var expired = await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE dp.import_jobs SET status = 'failed', reason = 'The upload URL expired before a file was uploaded.',
                status_description = 'The upload URL expired before a file was uploaded.', processed_at = now(), updated_at = now()
            WHERE status = 'uninitialised' AND upload_expires_at < now() - interval '1 day'
            """, cancellationToken: cancellationToken));
        if (expired > 0) LogUploadsExpired(expired);
        return expired;
    }

    /// <summary>
    /// A job that produced no version (failed, skipped) leaves nothing to trace back to, so its staged bytes go, with the
    /// change that ended it (the "changed" CTE: the job, if its status changed) and only then. Files behind versions stay, for
    /// lineage, until their dataset is deleted. Counts the jobs changed.
    /// </summary>
    private const string DropUnversionedFileSql = """
        , dropped AS (
            DELETE FROM dp.staged_files f USING changed j
            WHERE f.id = j.staged_file_id
              AND NOT EXISTS (SELECT 1 FROM dp.dataset_versions v WHERE v.staged_file_id = f.id OR v.import_job_id = j.id))
        SELECT count(*)::int FROM changed;
        """;

    /// <summary>
    /// Text fit for a text column: reasons quote the file's values, and PostgreSQL refuses NUL, which made recording the failure
    /// fail too and left the job processing forever.
    /// </summary>
    private static string Storable(string text) => text.Replace('\0', '\uFFFD');

    private bool Applied(int changed, long jobId, string change)
    {
        if (changed > 0) return true;
        LogChangeRefused(jobId, change.Replace("Async", "", StringComparison.Ordinal));
        return false;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Import {JobId}: status change {Change} refused, the job was not in a state it may leave (finished, deleted, or changed by another run)")]
    private partial void LogChangeRefused(long jobId, string change);

    [LoggerMessage(Level = LogLevel.Information, Message = "Import {JobId} handed back to its queue: its silo is stopping and rolled it back; it runs again on another silo")]
    private partial void LogHandedBack(long jobId);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Count} presigned imports failed: their upload URL expired without a file")]
    private partial void LogUploadsExpired(int count);
}

/// <summary>What a loaded import records on its job (<see cref="JobStore.FinishAsync"/>); null manifest keeps the job's own.</summary>
public sealed record ImportOutcome(
    long JobId, string Status, string Description, long RowsRead, long Inserted, long Updated, long Deleted, long Rejected, string? ErrorsJson,
    long ValuesInserted, long ValuesUpdated, long ValuesDeleted, long ValuesTotal, string? MinDate, string? MaxDate, int? Version,
    string? EffectiveManifest);

/// <summary>Why an import ends without loading (<see cref="JobStore.FailAsync"/>): status failed or pending_schema, reason, first row errors.</summary>
public sealed record ImportFailureRecord(string Status, string Message, string? ErrorsJson = null, long ErrorCount = 0, long RowsRead = 0);

public enum PresignedClaimOutcome { Claimed, AlreadyUsed, InProgress, Gone }

/// <summary>The result of taking a presigned URL's single use: on success, the staged file the PUT streams into.</summary>
public sealed record PresignedClaim(PresignedClaimOutcome Outcome, Guid? FileId, long DatasetId, string FileName);

/// <summary>What a seed 004 first upload creates, with its job, once its file is complete.</summary>
public sealed record NewDataset(long RepositoryId, string Name, string Description, string? CreatedBy);

/// <summary>
/// One upload in flight. Its file streams into staging without holding a connection between chunks; the job that enqueues
/// it (and for seed 004 the dataset it creates) is inserted, and the file marked complete, in one short transaction at
/// the end, so the 201 still means durable. Disposing without a commit deletes the files it staged.
/// </summary>
public sealed class UploadSession(NpgsqlDataSource dataSource, IStagedFileStore staging, JobStore jobs) : IAsyncDisposable
{
    private readonly List<Guid> _uncommitted = [];

    /// <summary>Stages a file; <paramref name="datasetId"/> is null when the dataset is created at commit (<see cref="CommitNewDatasetJobAsync"/>).</summary>
    public async Task<StagedFile> StageAsync(long? datasetId, string fileName, Stream content, long maxBytes, CancellationToken cancellationToken)
    {
        var file = await staging.WriteAsync(datasetId, fileName, content, maxBytes, cancellationToken);
        _uncommitted.Add(file.Id);
        return file;
    }

    /// <summary>Fills the staged file a presigned claim created (<see cref="JobStore.ClaimPresignedUploadAsync"/>).</summary>
    public async Task<StagedFile> StageClaimedAsync(Guid fileId, string fileName, Stream content, long maxBytes, CancellationToken cancellationToken)
    {
        _uncommitted.Add(fileId);
        return await staging.WriteChunksAsync(fileId, fileName, content, maxBytes, cancellationToken);
    }

    /// <summary>
    /// Attaches the staged file to the presigned job that claimed it and puts the job in the queue, in one transaction;
    /// false when the job is no longer waiting for this file (it is gone, or its claim was swept and another PUT won).
    /// </summary>
    public async Task<bool> CommitAwaitedFileAsync(long jobId, StagedFile file, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var job = await connection.QuerySingleOrDefaultAsync<long?>(
            "SELECT dataset_id FROM dp.import_jobs WHERE id = @jobId AND status = 'uninitialised' AND upload_file_id = @fileId FOR UPDATE",
            new { jobId, fileId = file.Id }, transaction);
        if (job is not { } datasetId) return false;
        await CompleteFileAsync(connection, transaction, file, datasetId);
        if (!await jobs.QueueUploadedFileAsync(connection, transaction, jobId, file)) return false;
        await transaction.CommitAsync(cancellationToken);
        _uncommitted.Remove(file.Id);
        return true;
    }

    /// <summary>
    /// Marks the file complete and queues its job in one statement, which PostgreSQL commits on its own (synchronously: this
    /// commit is the upload's acknowledgement), after the check that the file's bytes are stored
    /// (<see cref="IStagedFileStore.EnsureStoredAsync"/>: a read of its own with the bytes in PostgreSQL, none in a staging
    /// directory). One round trip where an explicit transaction took three (begin and the mark, the job, the commit).
    /// </summary>
    public async Task<ImportJobRow> CommitJobAsync(ImportRequest request, StagedFile file, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await staging.EnsureStoredAsync(connection, null, file, cancellationToken);
        var job = await CompleteFileAndInsertJobAsync(connection, null, request, file);
        _uncommitted.Remove(file.Id);
        return job;
    }

    /// <summary>
    /// Creates the dataset a seed 004 first upload goes to and its job in one transaction, so a failed upload leaves no
    /// dataset. A name already taken surfaces as the unique violation (<see cref="PostgresErrorCodes.UniqueViolation"/>).
    /// </summary>
    public async Task<(DatasetRow Dataset, ImportJobRow Job)> CommitNewDatasetJobAsync(NewDataset dataset, Func<DatasetRow, ImportRequest> request,
        StagedFile file, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var created = await connection.QuerySingleAsync<DatasetRow>(
            "INSERT INTO dp.datasets (repository_id, name, description, created_by) VALUES (@RepositoryId, @Name, @Description, @CreatedBy) RETURNING *",
            dataset, transaction);
        await staging.EnsureStoredAsync(connection, transaction, file, cancellationToken);
        var job = await CompleteFileAndInsertJobAsync(connection, transaction, request(created), file);
        await transaction.CommitAsync(cancellationToken);
        _uncommitted.Remove(file.Id);
        return (created, job);
    }

    /// <summary>The "file complete" mark of file <c>@stagedId</c>, with its dataset, size and hash; it applies only to a file still there, unfinished.</summary>
    private const string CompleteFileSql =
        "UPDATE dp.staged_files SET complete = true, dataset_id = @DatasetId, byte_count = @bytes, sha256 = @sha, touched_at = now() WHERE id = @stagedId AND NOT complete";

    /// <summary>The "file complete" mark, with its size and hash; the file must still be there, unfinished.</summary>
    private async Task CompleteFileAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, StagedFile file, long datasetId)
    {
        var updated = await connection.ExecuteAsync(CompleteFileSql,
            new { stagedId = file.Id, DatasetId = datasetId, bytes = file.ByteCount, sha = file.Sha256 }, transaction);
        if (updated == 0) throw StagedFileLostException.Discarded();
        await staging.EnsureStoredAsync(connection, transaction, file, CancellationToken.None);
    }

    /// <summary>
    /// Marks the file complete (it must still be there, unfinished) and inserts its job with its queue position (the column's
    /// default), under its dataset's queue lock (<see cref="QueuePositions"/>), in one statement: the lock is a materialized CTE
    /// over the marked file, so it is taken after the mark and before the job's row (and its position, <c>nextval</c>) is formed,
    /// and neither happens when the mark finds no file. Throws <see cref="StagedFileLostException"/> then.
    /// </summary>
    private static async Task<ImportJobRow> CompleteFileAndInsertJobAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction,
        ImportRequest request, StagedFile file)
    {
        return await connection.QuerySingleOrDefaultAsync<ImportJobRow>(
            $"""
            WITH completed AS ({CompleteFileSql} RETURNING id),
            queue_lock AS MATERIALIZED ({QueuePositions.LockQueueSql} FROM completed)
            INSERT INTO dp.import_jobs (dataset_id, source, format, file_name, staged_file_id, content_sha256, byte_count,
                delete_missing, on_conflict_update, accept_new_columns, manifest, created_by, block_number, description)
            SELECT @DatasetId, @Source, @format, @FileName, @stagedId, @sha, @bytes,
                @DeleteMissing, @OnConflictUpdate, @AcceptNewColumns, @ManifestJson::jsonb, @CreatedBy, @BlockNumber, @Description
            FROM queue_lock
            RETURNING *
            """,
            new
            {
                QueueDatasetId = request.DatasetId,
                request.DatasetId, request.Source, format = request.Format, request.FileName, stagedId = file.Id, sha = file.Sha256, bytes = file.ByteCount,
                request.DeleteMissing, request.OnConflictUpdate, request.AcceptNewColumns, request.ManifestJson, request.CreatedBy, request.BlockNumber, request.Description,
            }, transaction) ?? throw StagedFileLostException.Discarded();
    }

    public async ValueTask DisposeAsync() => await staging.DeleteIncompleteAsync(_uncommitted);
}
