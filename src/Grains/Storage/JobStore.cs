using Dapper;
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
/// </summary>
public sealed class JobStore(NpgsqlDataSource dataSource, IStagedFileStore staging)
{
    /// <summary>
    /// Starts an upload: its file is staged chunk by chunk (no connection held while the client sends), and the job is
    /// created with it, complete, in one short transaction at the end. Nothing of an upload that is not committed remains.
    /// </summary>
    public Task<UploadSession> BeginUploadAsync(CancellationToken cancellationToken) => Task.FromResult(new UploadSession(dataSource, staging));

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
            "SELECT dataset_id, status, file_name, upload_file_id FROM dp.import_jobs WHERE id = @jobId FOR UPDATE", new { jobId }, transaction);
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

    /// <summary>The head of the dataset's queue: the oldest job not finished yet.</summary>
    public async Task<long?> NextPendingAsync(long datasetId)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.ExecuteScalarAsync<long?>(
            "SELECT id FROM dp.import_jobs WHERE dataset_id = @datasetId AND status IN ('queued', 'processing') ORDER BY queue_seq, id LIMIT 1", new { datasetId });
    }

    public async Task MarkProcessingAsync(long id)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await connection.ExecuteAsync(
            """
            UPDATE dp.import_jobs SET status = 'processing', started_at = COALESCE(started_at, now()), updated_at = now()
            WHERE id = @id AND status IN ('queued', 'processing')
            """, new { id });
    }
}

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
public sealed class UploadSession(NpgsqlDataSource dataSource, IStagedFileStore staging) : IAsyncDisposable
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
        await connection.ExecuteAsync(
            """
            UPDATE dp.import_jobs SET staged_file_id = @stagedId, content_sha256 = @sha, byte_count = @bytes, status = 'queued',
                queue_seq = nextval('dp.import_queue_seq'), updated_at = now()
            WHERE id = @jobId
            """, new { jobId, stagedId = file.Id, sha = file.Sha256, bytes = file.ByteCount }, transaction);
        await transaction.CommitAsync(cancellationToken);
        _uncommitted.Remove(file.Id);
        return true;
    }

    public async Task<ImportJobRow> CommitJobAsync(ImportRequest request, StagedFile file, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await CompleteFileAsync(connection, transaction, file, request.DatasetId);
        var job = await InsertJobAsync(connection, transaction, request, file);
        await transaction.CommitAsync(cancellationToken);
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
        await CompleteFileAsync(connection, transaction, file, created.Id);
        var job = await InsertJobAsync(connection, transaction, request(created), file);
        await transaction.CommitAsync(cancellationToken);
        _uncommitted.Remove(file.Id);
        return (created, job);
    }

    /// <summary>The "file complete" mark, with its size and hash; the file must still be there, unfinished.</summary>
    private static async Task CompleteFileAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, StagedFile file, long datasetId)
    {
        var updated = await connection.ExecuteAsync(
            "UPDATE dp.staged_files SET complete = true, dataset_id = @datasetId, byte_count = @bytes, sha256 = @sha, touched_at = now() WHERE id = @id AND NOT complete",
            new { id = file.Id, datasetId, bytes = file.ByteCount, sha = file.Sha256 }, transaction);
        if (updated == 0) throw new StagedFileLostException("The upload was discarded before it completed: its dataset was deleted, or it stalled longer than the abandoned-upload limit.");
        // Chunks commit without waiting for the WAL flush (StagingStore.WriteChunkAsync): one committed before a database
        // crash can be gone although the upload went on after the restart. Only this commit is synchronous, so it must find
        // every byte it acknowledges. length() of an uncompressed bytea reads no data.
        var stored = await connection.ExecuteScalarAsync<long>(
            "SELECT coalesce(sum(length(data)), 0) FROM dp.staged_file_chunks WHERE file_id = @id", new { id = file.Id }, transaction);
        if (stored != file.ByteCount)
            throw new StagedFileLostException($"Part of the upload was lost by the database ({stored} of {file.ByteCount} bytes stored; it may have restarted "
                + "during the upload). Nothing was kept; send the file again.");
    }

    private static Task<ImportJobRow> InsertJobAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, ImportRequest request, StagedFile file) =>
        connection.QuerySingleAsync<ImportJobRow>(
            """
            INSERT INTO dp.import_jobs (dataset_id, source, format, file_name, staged_file_id, content_sha256, byte_count,
                delete_missing, on_conflict_update, accept_new_columns, manifest, created_by, block_number, description)
            VALUES (@DatasetId, @Source, @format, @FileName, @stagedId, @sha, @bytes,
                @DeleteMissing, @OnConflictUpdate, @AcceptNewColumns, @ManifestJson::jsonb, @CreatedBy, @BlockNumber, @Description)
            RETURNING *
            """,
            new
            {
                request.DatasetId, request.Source, format = request.Format, request.FileName, stagedId = file.Id, sha = file.Sha256, bytes = file.ByteCount,
                request.DeleteMissing, request.OnConflictUpdate, request.AcceptNewColumns, request.ManifestJson, request.CreatedBy, request.BlockNumber, request.Description,
            }, transaction);

    public async ValueTask DisposeAsync() => await staging.DeleteIncompleteAsync(_uncommitted);
}
