using System.Buffers;
using System.Security.Cryptography;
using DatasetPlatform.Grains.Hosting;
using Npgsql;
using NpgsqlTypes;

namespace DatasetPlatform.Grains.Storage;

/// <summary>What staging an upload produced: where it is, how big, and its content hash.</summary>
public sealed record StagedFile(Guid Id, long ByteCount, byte[] Sha256, string FileName);

/// <summary>
/// The PostgreSQL <see cref="IStagedFileStore"/>: keeps uploaded files in 1 MiB bytea chunks (dp.staged_file_chunks) so any
/// silo of a cluster can read them.
/// Writes stream from the request; reads stream chunk by chunk; neither holds a whole file in memory.
/// </summary>
/// <remarks>
/// A write never holds a connection while it waits for the client: each chunk is received whole first, then written
/// with one short statement on a connection taken for it (up to two of an upload's chunks at once). At most <see cref="DatabasePoolOptions.UploadConnections"/>
/// chunk writes run at once in a process, so uploads cannot take the pool from everything else. The file stays
/// incomplete (invisible to imports) until its job commits it; an abandoned one is deleted by its writer, or by the
/// silos' sweep once it has not been touched for a while (a crashed gateway).
/// </remarks>
public sealed class StagingStore(NpgsqlDataSource dataSource, DatabasePoolOptions pools) : IStagedFileStore
{
    private const int ChunkSize = 1 << 20;
    private readonly SemaphoreSlim _writeSlots = new(pools.UploadConnections, pools.UploadConnections);

    /// <summary>
    /// Creates an incomplete staged file (its dataset may not exist yet) and copies <paramref name="content"/> into it.
    /// Throws <see cref="UploadTooLargeException"/> past <paramref name="maxBytes"/>; on any failure the file is deleted.
    /// </summary>
    public async Task<StagedFile> WriteAsync(long? datasetId, string fileName, Stream content, long maxBytes, CancellationToken cancellationToken)
    {
        var id = await CreateAsync(datasetId, fileName, cancellationToken);
        return await WriteChunksAsync(id, fileName, content, maxBytes, cancellationToken);
    }

    /// <summary>Creates an empty incomplete staged file and returns its id.</summary>
    public async Task<Guid> CreateAsync(long? datasetId, string fileName, CancellationToken cancellationToken)
    {
        var id = Guid.NewGuid();
        // Without waiting for the WAL flush, like the chunks: a row lost with a crash of PostgreSQL fails the upload's commit (no
        // file to complete), and the commit that acknowledges the upload is synchronous and flushes this row with it.
        await RunAsync(InsertFileSql + $" RETURNING {AsyncCommit.ForThisTransaction}", command =>
        {
            command.Parameters.AddWithValue("id", id);
            command.Parameters.AddWithValue("ds", NpgsqlDbType.Bigint, (object?)datasetId ?? DBNull.Value);
            command.Parameters.AddWithValue("name", fileName);
        }, cancellationToken);
        return id;
    }

    /// <summary>The statement that creates an incomplete staged file (also used inside a presigned URL's claim).</summary>
    public const string InsertFileSql = "INSERT INTO dp.staged_files (id, dataset_id, file_name, complete) VALUES (@id, @ds, @name, false)";

    /// <summary>
    /// Copies <paramref name="content"/> into the incomplete staged file <paramref name="id"/>, receiving the next chunk from
    /// the client while up to <see cref="WritesInFlight"/> earlier ones are written. On any failure (too large, client gone,
    /// dataset deleted) the file is deleted.
    /// </summary>
    public async Task<StagedFile> WriteChunksAsync(Guid id, string fileName, Stream content, long maxBytes, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        // One buffer receives while the others are written; a chunk's buffer is reused only once its write has finished.
        var buffers = new byte[WritesInFlight + 1][];
        var writes = new Task[WritesInFlight + 1];
        for (var i = 0; i < buffers.Length; i++)
        {
            buffers[i] = ArrayPool<byte>.Shared.Rent(ChunkSize);
            writes[i] = Task.CompletedTask;
        }
        long total = 0;
        try
        {
            var seq = 0;
            while (true)
            {
                var slot = seq % buffers.Length;
                await writes[slot]; // the write that last used this buffer (WritesInFlight chunks ago)
                var buffer = buffers[slot];
                var filled = await FillAsync(content, buffer, cancellationToken);
                if (filled == 0) break;
                total += filled;
                if (total > maxBytes) throw new UploadTooLargeException(maxBytes);
                hash.AppendData(buffer, 0, filled);
                writes[slot] = WriteChunkAsync(id, seq++, new ReadOnlyMemory<byte>(buffer, 0, filled), cancellationToken);
                if (filled < ChunkSize) break;
            }
            await Task.WhenAll(writes);
            return new StagedFile(id, total, hash.GetHashAndReset(), fileName);
        }
        catch
        {
            try { await Task.WhenAll(writes); } catch (Exception) { /* the first failure is the one to report */ }
            await DeleteIncompleteAsync([id]);
            throw;
        }
        finally
        {
            foreach (var buffer in buffers) ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Chunk writes of one upload that may be in flight at once. Each write is one request/response with PostgreSQL; with
    /// one in flight the server sat idle between chunks (its answer, our next request), which made staging up to 2x slower
    /// than the streamed COPY it replaced on a busy machine. Two keep it busy, at one more 1 MiB buffer per upload.
    /// </summary>
    private const int WritesInFlight = 2;

    /// <summary>Deletes staged files that never completed (an upload that failed or was refused); best effort, the sweep covers the rest.</summary>
    public async Task DeleteIncompleteAsync(IReadOnlyCollection<Guid> ids)
    {
        if (ids.Count == 0) return;
        try
        {
            await RunAsync("DELETE FROM dp.staged_files WHERE id = ANY(@ids) AND NOT complete",
                command => command.Parameters.AddWithValue("ids", ids.ToArray()), CancellationToken.None);
        }
        catch (NpgsqlException) { /* the abandoned-upload sweep deletes it later */ }
    }

    /// <summary>
    /// One chunk in one short transaction, refreshing the file's touched_at so the sweep leaves it alone, in one round trip:
    /// the batch is one implicit transaction, committed by PostgreSQL at its end. Its commit does not wait for the WAL flush
    /// (synchronous_commit off, set for this transaction only): the job's commit at the end of the upload is synchronous and
    /// flushes the WAL up to itself, chunks included, before the 201; a crash before that loses only an unacknowledged upload.
    /// </summary>
    private async Task WriteChunkAsync(Guid id, int seq, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await _writeSlots.WaitAsync(cancellationToken);
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var batch = new NpgsqlBatch(connection);
            batch.BatchCommands.Add(new NpgsqlBatchCommand($"SELECT {AsyncCommit.ForThisTransaction}"));
            var insert = new NpgsqlBatchCommand(
                """
                WITH chunk AS (INSERT INTO dp.staged_file_chunks (file_id, seq, data) VALUES (@id, @seq, @data))
                UPDATE dp.staged_files SET touched_at = now() WHERE id = @id
                """);
            insert.Parameters.AddWithValue("id", id);
            insert.Parameters.AddWithValue("seq", seq);
            insert.Parameters.Add(new NpgsqlParameter<ReadOnlyMemory<byte>>("data", NpgsqlDbType.Bytea) { TypedValue = data });
            batch.BatchCommands.Add(insert);
            await batch.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ForeignKeyViolation)
        {
            throw new StagedFileLostException("The upload's dataset was deleted while the file was uploading.", e);
        }
        finally
        {
            _writeSlots.Release();
        }
    }

    private async Task RunAsync(string sql, Action<NpgsqlCommand> bind, CancellationToken cancellationToken)
    {
        await _writeSlots.WaitAsync(cancellationToken);
        try
        {
            await using var command = dataSource.CreateCommand(sql);
            bind(command);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        finally
        {
            _writeSlots.Release();
        }
    }

    /// <summary>Chunks go with their file's row (ON DELETE CASCADE): there are never orphans here.</summary>
    public Task<int> DeleteOrphansAsync(CancellationToken cancellationToken) => Task.FromResult(0);

    /// <summary>Opens the staged file for sequential reading. The stream owns a pooled connection until disposed.</summary>
    public async Task<Stream> OpenReadAsync(Guid fileId, CancellationToken cancellationToken)
    {
        // Without this check a file staged in a directory would read as empty here: no chunk rows.
        if (await FileStagingStore.StoredInAsync(dataSource, fileId, cancellationToken) == "files")
            throw new StagedFileUnavailableException($"The staged file {fileId} is in a staging directory, and this process has none: set DP_STAGING_DIR "
                + "to the directory the gateways write to.");
        return await OpenChunksAsync(fileId, cancellationToken);
    }

    /// <summary>Opens the chunks of a file staged in PostgreSQL as one stream.</summary>
    internal async Task<Stream> OpenChunksAsync(Guid fileId, CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
            var command = new NpgsqlCommand("SELECT data FROM dp.staged_file_chunks WHERE file_id = @id ORDER BY seq", connection);
            command.Parameters.AddWithValue("id", fileId);
            var reader = await command.ExecuteReaderAsync(System.Data.CommandBehavior.SequentialAccess, cancellationToken);
            return new ChunkReadStream(connection, command, reader);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Chunks commit without waiting for the WAL flush (<see cref="WriteChunkAsync"/>): one committed before a database crash can
    /// be gone although the upload went on after the restart. Only the acknowledging commit is synchronous, so it must find
    /// every byte it acknowledges. length() of an uncompressed bytea reads no data.
    /// </summary>
    public async Task EnsureStoredAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, StagedFile file, CancellationToken cancellationToken)
    {
        // Whether the file's row is still there too: checked before the commit that marks it complete, a file deleted meanwhile
        // (its dataset deleted, or swept as abandoned) has no chunks left, and must read as discarded, not as lost by the database.
        await using var command = new NpgsqlCommand(
            "SELECT coalesce(sum(length(data)), 0), EXISTS (SELECT 1 FROM dp.staged_files WHERE id = @id) FROM dp.staged_file_chunks WHERE file_id = @id",
            connection, transaction);
        command.Parameters.AddWithValue("id", file.Id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var (stored, fileExists) = (reader.GetInt64(0), reader.GetBoolean(1));
        if (!fileExists) throw StagedFileLostException.Discarded();
        if (stored != file.ByteCount)
            throw new StagedFileLostException($"Part of the upload was lost by the database ({stored} of {file.ByteCount} bytes stored; it may have restarted "
                + "during the upload). Nothing was kept; send the file again.");
    }

    private static async Task<int> FillAsync(Stream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        var filled = 0;
        while (filled < ChunkSize)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(filled, ChunkSize - filled), cancellationToken);
            if (read == 0) break;
            filled += read;
        }
        return filled;
    }

    /// <summary>Concatenates the chunk rows of one query into one forward-only stream.</summary>
    private sealed class ChunkReadStream(NpgsqlConnection connection, NpgsqlCommand command, NpgsqlDataReader reader) : ForwardOnlyReadStream
    {
        private Stream? _current;
        private bool _done;

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            while (!_done)
            {
                if (_current is null)
                {
                    if (!reader.Read()) { _done = true; break; }
                    _current = reader.GetStream(0);
                }
                var read = _current.Read(buffer);
                if (read > 0) return read;
                _current.Dispose();
                _current = null;
            }
            return 0;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            while (!_done)
            {
                if (_current is null)
                {
                    if (!await reader.ReadAsync(cancellationToken)) { _done = true; break; }
                    _current = reader.GetStream(0);
                }
                var read = await _current.ReadAsync(buffer, cancellationToken);
                if (read > 0) return read;
                await _current.DisposeAsync();
                _current = null;
            }
            return 0;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _current?.Dispose();
                reader.Dispose();
                command.Dispose();
                connection.Dispose();
            }
            base.Dispose(disposing);
        }

    }
}

/// <summary>The staged file of an upload in flight is gone: its dataset was deleted, or it was swept as abandoned.</summary>
public sealed class StagedFileLostException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The file's row is gone, or already complete, when the upload is to be acknowledged.</summary>
    public static StagedFileLostException Discarded() =>
        new("The upload was discarded before it completed: its dataset was deleted, or it stalled longer than the abandoned-upload limit.");
}

public sealed class UploadTooLargeException(long maxBytes) : Exception($"The upload exceeds the limit of {maxBytes} bytes.")
{
    public long MaxBytes { get; } = maxBytes;
}
