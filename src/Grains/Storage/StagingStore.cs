using System.Security.Cryptography;
using Npgsql;
using NpgsqlTypes;

namespace DatasetPlatform.Grains.Storage;

/// <summary>What staging an upload produced: where it is, how big, and its content hash.</summary>
public sealed record StagedFile(Guid Id, long ByteCount, byte[] Sha256, string FileName);

/// <summary>
/// Keeps uploaded files in PostgreSQL (1 MiB bytea chunks) so any silo of a cluster can read them.
/// Writes stream from the request; reads stream chunk by chunk; neither holds a whole file in memory.
/// </summary>
public sealed class StagingStore(NpgsqlDataSource dataSource)
{
    private const int ChunkSize = 1 << 20;

    /// <summary>
    /// Copies <paramref name="content"/> into a new staged file inside <paramref name="transaction"/>, so the
    /// file and the job that refers to it commit together. Throws <see cref="UploadTooLargeException"/> past
    /// <paramref name="maxBytes"/>.
    /// </summary>
    public static async Task<StagedFile> WriteAsync(NpgsqlConnection connection, long datasetId, string fileName, Stream content,
        long maxBytes, CancellationToken cancellationToken)
    {
        var id = Guid.NewGuid();
        await using (var insert = new NpgsqlCommand("INSERT INTO dp.staged_files (id, dataset_id, file_name) VALUES (@id, @ds, @name)", connection))
        {
            insert.Parameters.AddWithValue("id", id);
            insert.Parameters.AddWithValue("ds", datasetId);
            insert.Parameters.AddWithValue("name", fileName);
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(ChunkSize);
        long total = 0;
        try
        {
            await using var copy = await connection.BeginBinaryImportAsync(
                "COPY dp.staged_file_chunks (file_id, seq, data) FROM STDIN (FORMAT BINARY)", cancellationToken);
            var seq = 0;
            while (true)
            {
                var filled = await FillAsync(content, buffer, cancellationToken);
                if (filled == 0) break;
                total += filled;
                if (total > maxBytes) throw new UploadTooLargeException(maxBytes);
                hash.AppendData(buffer, 0, filled);
                await copy.StartRowAsync(cancellationToken);
                await copy.WriteAsync(id, NpgsqlDbType.Uuid, cancellationToken);
                await copy.WriteAsync(seq++, NpgsqlDbType.Integer, cancellationToken);
                await copy.WriteAsync(new ArraySegment<byte>(buffer, 0, filled), NpgsqlDbType.Bytea, cancellationToken);
                if (filled < ChunkSize) break;
            }
            await copy.CompleteAsync(cancellationToken);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }

        var sha = hash.GetHashAndReset();
        await using (var update = new NpgsqlCommand("UPDATE dp.staged_files SET byte_count = @n, sha256 = @h WHERE id = @id", connection))
        {
            update.Parameters.AddWithValue("n", total);
            update.Parameters.AddWithValue("h", sha);
            update.Parameters.AddWithValue("id", id);
            await update.ExecuteNonQueryAsync(cancellationToken);
        }
        return new StagedFile(id, total, sha, fileName);
    }

    /// <summary>Opens the staged file for sequential reading. The stream owns a pooled connection until disposed.</summary>
    public async Task<Stream> OpenReadAsync(Guid fileId, CancellationToken cancellationToken)
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
    private sealed class ChunkReadStream(NpgsqlConnection connection, NpgsqlCommand command, NpgsqlDataReader reader) : Stream
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

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

public sealed class UploadTooLargeException(long maxBytes) : Exception($"The upload exceeds the limit of {maxBytes} bytes.")
{
    public long MaxBytes { get; } = maxBytes;
}
