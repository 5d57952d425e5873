using System.Buffers;
using System.Security.Cryptography;
using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace DatasetPlatform.Grains.Storage;

/// <summary>
/// The <see cref="IStagedFileStore"/> that keeps uploaded bytes as files in a directory (DP_STAGING_DIR) every process of the
/// deployment shares: one machine (run.sh, also with --silos), or a volume mounted into every container. Only the bytes move
/// out of PostgreSQL; the file's catalog row (dp.staged_files, stored_in = 'files') and its "complete" mark stay there.
/// </summary>
/// <remarks>
/// Why: staged in PostgreSQL, every uploaded byte went through the WAL twice (staged chunks, then the dataset's table) and was
/// read back by a second backend while the COPY ran, on a database whose CPU is the limit of a load. Measured (bench/ingest.sh,
/// 1M rows, 105 MB): the 201 came 1.7 s after the first byte and the chunk read cost the database ~2 s of CPU during the load.
/// A file costs a page-cache write and one fsync (0.1 s per 100 MB here) before the 201, and no database CPU.
/// A write is the file <c>{id}.bytes</c>, fsynced before the job that acknowledges it commits; files whose row is gone (an
/// upload that failed, a job that produced no version, a deleted dataset) are removed by <see cref="DeleteOrphansAsync"/>,
/// which the silos' sweep runs. Files queued in PostgreSQL before a switch to this store are still read from there.
/// </remarks>
public sealed partial class FileStagingStore(string directory, TimeSpan orphanMinAge, NpgsqlDataSource dataSource, StagingStore databaseStore,
    ILogger<FileStagingStore> logger) : IStagedFileStore
{
    private const int BufferSize = 1 << 20;
    private const string Extension = ".bytes";

    /// <summary>A live upload refreshes its row's touched_at this often, so the abandoned-upload sweep leaves it alone.</summary>
    private static readonly TimeSpan TouchInterval = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Staging:OrphanMinAgeSeconds (default 60): a file younger than this is never taken for an orphan. Every writer inserts the
    /// file's row before it creates the file, so this is a margin, not a lock.
    /// </summary>
    public const string OrphanMinAgeKey = "Staging:OrphanMinAgeSeconds";

    public string Directory { get; } = Path.GetFullPath(directory);

    public async Task<StagedFile> WriteAsync(long? datasetId, string fileName, Stream content, long maxBytes, CancellationToken cancellationToken)
    {
        var id = Guid.NewGuid();
        // Commits without waiting for the WAL flush (one fsync less per upload): should PostgreSQL crash and lose the row, the
        // upload's commit finds no file to complete and fails (no 201, nothing acknowledged is lost); the orphan sweep removes
        // the bytes. The commit that acknowledges the upload is synchronous and flushes this row with it.
        await using (var command = dataSource.CreateCommand(
            "INSERT INTO dp.staged_files (id, dataset_id, file_name, complete, stored_in) SELECT @id, @ds, @name, false, 'files' "
            + $"WHERE {AsyncCommit.ForThisTransaction} IS NOT NULL"))
        {
            command.Parameters.AddWithValue("id", id);
            command.Parameters.AddWithValue("ds", NpgsqlTypes.NpgsqlDbType.Bigint, (object?)datasetId ?? DBNull.Value);
            command.Parameters.AddWithValue("name", fileName);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        return await WriteFileAsync(id, fileName, content, maxBytes, cancellationToken);
    }

    public async Task<StagedFile> WriteChunksAsync(Guid id, string fileName, Stream content, long maxBytes, CancellationToken cancellationToken)
    {
        // The row a presigned claim created says where the bytes will be: here, whatever store was configured at the claim.
        if (!await TouchAsync(id, "stored_in = 'files', ", cancellationToken))
            throw new StagedFileLostException("The upload was discarded before it started: its dataset was deleted, or its claim expired.");
        return await WriteFileAsync(id, fileName, content, maxBytes, cancellationToken);
    }

    private async Task<StagedFile> WriteFileAsync(Guid id, string fileName, Stream content, long maxBytes, CancellationToken cancellationToken)
    {
        var path = PathOf(id);
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        long total = 0;
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            // bufferSize 0: each 1 MiB write goes straight to the page cache, with no second copy through a FileStream buffer.
            await using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0, FileOptions.Asynchronous))
            {
                var nextTouch = DateTime.UtcNow + TouchInterval;
                int read;
                while ((read = await content.ReadAsync(buffer.AsMemory(0, BufferSize), cancellationToken)) > 0)
                {
                    total += read;
                    if (total > maxBytes) throw new UploadTooLargeException(maxBytes);
                    hash.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    if (DateTime.UtcNow >= nextTouch)
                    {
                        if (!await TouchAsync(id, "", cancellationToken))
                            throw new StagedFileLostException("The upload's dataset was deleted while the file was uploading.");
                        nextTouch = DateTime.UtcNow + TouchInterval;
                    }
                }
                // The 201 promises the bytes survive a crash: they reach the disk before the job that acknowledges them commits.
                file.Flush(flushToDisk: true);
            }
            return new StagedFile(id, total, hash.GetHashAndReset(), fileName);
        }
        catch
        {
            await DeleteIncompleteAsync([id]);
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task<bool> TouchAsync(Guid id, string alsoSet, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"UPDATE dp.staged_files SET {alsoSet}touched_at = now() WHERE id = @id AND NOT complete");
        command.Parameters.AddWithValue("id", id);
        return await command.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    /// <summary>
    /// Deletes the rows of files that never completed, then the bytes of every one of <paramref name="ids"/> that has no row
    /// left; a file whose row is complete (a commit that succeeded although its caller saw an error) is never touched.
    /// </summary>
    public async Task DeleteIncompleteAsync(IReadOnlyCollection<Guid> ids)
    {
        if (ids.Count == 0) return;
        // The rows go as the database store deletes them; whatever row is still there (complete, or a delete that failed)
        // keeps its bytes.
        await databaseStore.DeleteIncompleteAsync(ids);
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            var kept = (await connection.QueryAsync<Guid>("SELECT id FROM dp.staged_files WHERE id = ANY(@ids)", new { ids = ids.ToArray() })).ToHashSet();
            foreach (var id in ids.Where(id => !kept.Contains(id))) DeleteFile(id);
        }
        catch (NpgsqlException) { /* the abandoned-upload sweep and the orphan sweep delete them later */ }
    }

    /// <remarks>
    /// The file is opened first and the catalog asked only when it is not there (one statement and pool checkout less per
    /// import): bytes in this directory are always this store's, since a writer records stored_in = 'files' before it creates
    /// the file, and the database store never writes here.
    /// </remarks>
    public async Task<Stream> OpenReadAsync(Guid fileId, CancellationToken cancellationToken)
    {
        try
        {
            // No FileStream buffer (bufferSize 0): the readers above read in 64 KiB blocks of their own, and a 1 MiB buffer was a
            // new large-object-heap array per import, whose allocations are what triggers full (gen 2) collections (many-small).
            return new FileStream(PathOf(fileId), FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan | FileOptions.Asynchronous);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            // Staged in PostgreSQL before a switch to this store, or written where this process cannot see it.
            if (await StoredInAsync(dataSource, fileId, cancellationToken) != "files") return await databaseStore.OpenChunksAsync(fileId, cancellationToken);
            throw new StagedFileUnavailableException(
                $"The staged file {fileId} is not in {Directory} on this process; every process of a deployment must share DP_STAGING_DIR.", e);
        }
    }

    /// <summary>The bytes were fsynced at the end of the write; what is left to check is that the file is still there, whole.</summary>
    public Task EnsureStoredAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, StagedFile file, CancellationToken cancellationToken)
    {
        var stored = new FileInfo(PathOf(file.Id));
        // This process wrote the file: gone, it was swept (its row first, as abandoned, then its bytes, as an orphan).
        if (!stored.Exists) throw StagedFileLostException.Discarded();
        if (stored.Length != file.ByteCount)
            throw new StagedFileLostException($"Part of the upload was lost ({stored.Length} of {file.ByteCount} bytes stored). "
                + "Nothing was kept; send the file again.");
        return Task.CompletedTask;
    }

    /// <summary>Where a staged file's bytes are ('database' or 'files'); null when its row is gone.</summary>
    internal static async Task<string?> StoredInAsync(NpgsqlDataSource dataSource, Guid fileId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT stored_in FROM dp.staged_files WHERE id = @id");
        command.Parameters.AddWithValue("id", fileId);
        return await command.ExecuteScalarAsync(cancellationToken) as string;
    }

    /// <summary>
    /// Deletes the files whose catalog row is gone (failed uploads, jobs that produced no version, deleted datasets: PostgreSQL
    /// deletes those rows itself, by cascade, so the bytes are collected here). Returns how many went.
    /// </summary>
    public async Task<int> DeleteOrphansAsync(CancellationToken cancellationToken)
    {
        var cutoff = DateTime.UtcNow - orphanMinAge;
        var candidates = new List<Guid>();
        foreach (var path in System.IO.Directory.EnumerateFiles(Directory, "*" + Extension))
        {
            if (Guid.TryParse(Path.GetFileNameWithoutExtension(path), out var id) && File.GetLastWriteTimeUtc(path) < cutoff) candidates.Add(id);
        }
        var deleted = 0;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        foreach (var batch in candidates.Chunk(10_000))
        {
            var known = (await connection.QueryAsync<Guid>(new CommandDefinition("SELECT id FROM dp.staged_files WHERE id = ANY(@ids)",
                new { ids = batch }, cancellationToken: cancellationToken))).ToHashSet();
            foreach (var id in batch.Where(id => !known.Contains(id)))
            {
                if (DeleteFile(id)) deleted++;
            }
        }
        if (deleted > 0) LogOrphansDeleted(deleted, Directory);
        return deleted;
    }

    private bool DeleteFile(Guid id)
    {
        try
        {
            File.Delete(PathOf(id));
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogDeleteFailed(e, id);
            return false;
        }
    }

    private string PathOf(Guid id) => Path.Combine(Directory, id.ToString("N") + Extension);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted {Count} staged files without a catalog row from {Directory}")]
    private partial void LogOrphansDeleted(int count, string directory);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not delete staged file {FileId}; the next sweep tries again")]
    private partial void LogDeleteFailed(Exception exception, Guid fileId);
}

/// <summary>
/// A staged file's bytes are not where this process looks (a directory it does not share with the gateway that wrote it, or a
/// silo without DP_STAGING_DIR). Transient for the import: another process may see them, and the configuration can be fixed.
/// </summary>
public sealed class StagedFileUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
