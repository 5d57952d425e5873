using Npgsql;

namespace DatasetPlatform.Grains.Storage;

/// <summary>
/// Where the bytes of uploaded files wait between the upload (a gateway) and their import (any silo). The gateway writes
/// through it (<see cref="UploadSession"/>), the import runner reads through it; nothing else touches staged bytes.
/// <see cref="StagingStore"/> keeps them in PostgreSQL (1 MiB chunks; any process that reaches the database reads them),
/// <see cref="FileStagingStore"/> in a directory every process shares (DP_STAGING_DIR: one machine, or a shared volume);
/// an S3-compatible object store would be the next (see deploy/README.md).
/// </summary>
/// <remarks>
/// A staged file's catalog row (dp.staged_files: its dataset, name, size, hash and "complete" mark) stays in PostgreSQL
/// whatever holds the bytes, because the mark commits in the same transaction as the job that enqueues the file. A file is
/// invisible to imports until then, so a writer that fails leaves nothing an import could read.
/// </remarks>
public interface IStagedFileStore
{
    /// <summary>
    /// Creates an incomplete staged file (its dataset may not exist yet) and copies <paramref name="content"/> into it.
    /// Throws <see cref="UploadTooLargeException"/> past <paramref name="maxBytes"/>; on any failure the file is deleted.
    /// </summary>
    Task<StagedFile> WriteAsync(long? datasetId, string fileName, Stream content, long maxBytes, CancellationToken cancellationToken);

    /// <summary>
    /// Copies <paramref name="content"/> into the incomplete staged file <paramref name="id"/> that already exists (a presigned
    /// URL's claim created it). Throws <see cref="UploadTooLargeException"/> past <paramref name="maxBytes"/> and
    /// <see cref="StagedFileLostException"/> when the file went away meanwhile; on any failure the file is deleted.
    /// </summary>
    Task<StagedFile> WriteChunksAsync(Guid id, string fileName, Stream content, long maxBytes, CancellationToken cancellationToken);

    /// <summary>Deletes staged files that never completed; best effort (the silos' abandoned-upload sweep covers the rest).</summary>
    Task DeleteIncompleteAsync(IReadOnlyCollection<Guid> ids);

    /// <summary>
    /// Opens a complete staged file for one sequential read; the stream holds its resources until disposed. Throws
    /// <see cref="StagedFileUnavailableException"/> when the bytes are in a store this process cannot reach.
    /// </summary>
    Task<Stream> OpenReadAsync(Guid fileId, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes stored bytes whose catalog row is gone (PostgreSQL deletes rows by cascade, e.g. with their dataset); run by the
    /// silos' sweep. Returns how many went.
    /// </summary>
    Task<int> DeleteOrphansAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Just before, or inside, the commit that marks <paramref name="file"/> complete (and acknowledges it), on its connection
    /// (<paramref name="transaction"/> null: just before): throws <see cref="StagedFileLostException"/> unless every byte the
    /// writer counted is stored. Before is enough: that commit is synchronous, so it also makes durable whatever the check read
    /// as committed, and a crash of PostgreSQL between the two fails the commit itself.
    /// </summary>
    Task EnsureStoredAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, StagedFile file, CancellationToken cancellationToken);
}
