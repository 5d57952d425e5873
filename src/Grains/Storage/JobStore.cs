using Dapper;
using Npgsql;

namespace DatasetPlatform.Grains.Storage;

/// <summary>What an upload asks for; the job row is created from it in the staging transaction.</summary>
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
public sealed class JobStore(NpgsqlDataSource dataSource)
{
    /// <summary>Opens the transaction in which an upload is staged and its job created; both commit together or not at all.</summary>
    public async Task<UploadSession> BeginUploadAsync(CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var transaction = await connection.BeginTransactionAsync(cancellationToken);
        return new UploadSession(connection, transaction);
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

    /// <summary>
    /// Polls the catalog until the job is finished (terminal) or <paramref name="timeout"/> passes; returns the last row
    /// seen (null when the job is gone). For the synchronous surfaces: block PATCH, seed 004 uploads.
    /// </summary>
    public async Task<ImportJobRow?> WaitForFinishAsync(long id, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        var delay = TimeSpan.FromMilliseconds(20);
        while (true)
        {
            var job = await GetAsync(id);
            if (job is null || Abstractions.JobStatus.IsTerminal(job.Status) || DateTime.UtcNow > deadline) return job;
            await Task.Delay(delay, cancellationToken);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 250));
        }
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

/// <summary>
/// One upload in flight: the file streams into staging inside a transaction, and the job row that enqueues it
/// is inserted in the same transaction. Disposing without <see cref="CommitJobAsync"/> leaves nothing behind.
/// </summary>
public sealed class UploadSession(NpgsqlConnection connection, NpgsqlTransaction transaction) : IAsyncDisposable
{
    /// <summary>
    /// Attaches the staged file to a presigned job that is still waiting for it and puts the job in the queue; false when
    /// the job already has a file (the URL was used) or is gone. Commits only on success.
    /// </summary>
    public async Task<bool> CommitAwaitedFileAsync(long jobId, StagedFile file, CancellationToken cancellationToken)
    {
        var updated = await connection.ExecuteAsync(
            """
            UPDATE dp.import_jobs SET staged_file_id = @stagedId, content_sha256 = @sha, byte_count = @bytes, status = 'queued',
                queue_seq = nextval('dp.import_queue_seq'), updated_at = now()
            WHERE id = @jobId AND status = 'uninitialised'
            """, new { jobId, stagedId = file.Id, sha = file.Sha256, bytes = file.ByteCount }, transaction);
        if (updated == 0) return false;
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>Runs a catalog statement inside the upload's transaction (e.g. creating the dataset the upload goes to).</summary>
    public Task<T> QuerySingleAsync<T>(string sql, object parameters) => connection.QuerySingleAsync<T>(sql, parameters, transaction);

    public Task<StagedFile> StageAsync(long datasetId, string fileName, Stream content, long maxBytes, CancellationToken cancellationToken) =>
        StagingStore.WriteAsync(connection, datasetId, fileName, content, maxBytes, cancellationToken);

    public async Task<ImportJobRow> CommitJobAsync(ImportRequest request, StagedFile file, CancellationToken cancellationToken)
    {
        var job = await connection.QuerySingleAsync<ImportJobRow>(
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
        await transaction.CommitAsync(cancellationToken);
        return job;
    }

    public async ValueTask DisposeAsync()
    {
        await transaction.DisposeAsync();
        await connection.DisposeAsync();
    }
}
