using System.Net;
using System.Security.Cryptography;
using System.Text;
using Dapper;
using DatasetPlatform.Grains.Hosting;
using DatasetPlatform.Grains.Storage;
using DatasetPlatform.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace DatasetPlatform.Tests;

/// <summary>
/// Uploads staged as files in DP_STAGING_DIR (run.sh's default, and this fixture's): the bytes a 201 acknowledges are on disk,
/// the file behind a version stays with it, and bytes whose catalog row went (refused files, failed uploads) are deleted.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class FileStagingTests(PlatformFixture platform)
{
    private const string Csv = "Date,Country,Value\n2020-01-01,USA,1\n2020-01-01,ARG,2\n";

    [Fact]
    public async Task An_uploaded_file_is_staged_on_disk_whole_and_stays_with_its_version()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        Assert.Equal("Processed", (await api.UploadAndWaitAsync(datasetId, Csv, ApiClient.DateCountryManifest)).GetProperty("status").GetString());

        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        var staged = await connection.QuerySingleAsync<(Guid Id, string StoredIn, long ByteCount, byte[] Sha256)>(
            "SELECT id, stored_in, byte_count, sha256 FROM dp.staged_files WHERE dataset_id = @datasetId", new { datasetId });
        Assert.Equal("files", staged.StoredIn);
        Assert.Equal(0L, await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM dp.staged_file_chunks WHERE file_id = @id", new { id = staged.Id }));

        var bytes = await File.ReadAllBytesAsync(Path.Combine(platform.StagingDirectory, staged.Id.ToString("N") + ".bytes"));
        Assert.Equal(staged.ByteCount, bytes.Length);
        Assert.Equal(staged.Sha256, SHA256.HashData(bytes));
        Assert.Contains("2020-01-01,ARG,2", Encoding.UTF8.GetString(bytes)); // the multipart file itself, nothing around it
    }

    [Fact]
    public async Task Bytes_without_a_catalog_row_are_deleted_refused_files_and_uploads_over_the_limit_included()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        await api.UploadAndWaitAsync(datasetId, Csv, ApiClient.DateCountryManifest);
        var refused = await api.UploadAndWaitAsync(datasetId, "Date,Country,Value\n2021-01-01,USA,abc\n");
        Assert.Equal("Error", refused.GetProperty("status").GetString());
        var tooLarge = await api.UploadAsync(datasetId, new string('x', (int)PlatformFixture.MaxUploadBytes + 1024));
        Assert.Contains($"{PlatformFixture.MaxUploadBytes} bytes", await ApiClient.ExpectProblemAsync(tooLarge, HttpStatusCode.RequestEntityTooLarge));

        // The sweep (every second here) leaves exactly the files whose rows remain: for this dataset, the one behind version 0.
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var onDisk = Directory.EnumerateFiles(platform.StagingDirectory, "*.bytes").Select(path => Guid.Parse(Path.GetFileNameWithoutExtension(path))).ToHashSet();
            var rows = (await connection.QueryAsync<Guid>("SELECT id FROM dp.staged_files WHERE stored_in = 'files'")).ToHashSet();
            if (onDisk.IsSubsetOf(rows)) break;
            Assert.True(DateTime.UtcNow < deadline, $"{onDisk.Except(rows).Count()} staged files without a catalog row were not deleted");
            await Task.Delay(200);
        }
        Assert.Equal(1L, await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM dp.staged_files WHERE dataset_id = @datasetId", new { datasetId }));
    }

    [Fact]
    public async Task Each_store_reads_what_the_other_wrote_or_says_clearly_that_it_cannot()
    {
        await using var dataSource = NpgsqlDataSource.Create(platform.ConnectionString);
        var databaseStore = new StagingStore(dataSource, new DatabasePoolOptions());
        var fileStore = new FileStagingStore(platform.StagingDirectory, TimeSpan.FromMinutes(1), dataSource, databaseStore, NullLogger<FileStagingStore>.Instance);
        var content = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("Date,Country,Value\n", 100_000))); // 1.9 MB: two chunks in PostgreSQL

        // Staged in PostgreSQL before a switch to a staging directory: the directory store still reads it from there.
        var inDatabase = await databaseStore.WriteAsync(null, "before.csv", new MemoryStream(content), long.MaxValue, CancellationToken.None);
        await using (var read = await fileStore.OpenReadAsync(inDatabase.Id, CancellationToken.None)) Assert.Equal(content, await ReadAllAsync(read));

        // Staged in a directory, read by a process without one: a clear, transient refusal, never an empty file.
        var inFiles = await fileStore.WriteAsync(null, "after.csv", new MemoryStream(content), long.MaxValue, CancellationToken.None);
        await using (var read = await fileStore.OpenReadAsync(inFiles.Id, CancellationToken.None)) Assert.Equal(content, await ReadAllAsync(read));
        var refusal = await Assert.ThrowsAsync<StagedFileUnavailableException>(() => databaseStore.OpenReadAsync(inFiles.Id, CancellationToken.None));
        Assert.Contains("DP_STAGING_DIR", refusal.Message);
        Assert.True(Grains.Import.ImportErrors.IsTransient(refusal));

        // Over the limit: the write fails and leaves neither bytes nor row.
        var before = Directory.GetFiles(platform.StagingDirectory).Length;
        await Assert.ThrowsAsync<UploadTooLargeException>(() => fileStore.WriteAsync(null, "big.csv", new MemoryStream(content), 1000, CancellationToken.None));

        // Deleting what an upload left unfinished never touches a file whose commit went through (its row is complete).
        var fileOf = Path.Combine(platform.StagingDirectory, inFiles.Id.ToString("N") + ".bytes");
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        await connection.ExecuteAsync("UPDATE dp.staged_files SET complete = true WHERE id = @id", new { id = inFiles.Id });
        await fileStore.DeleteIncompleteAsync([inFiles.Id]);
        Assert.True(File.Exists(fileOf), "the bytes of a committed upload were deleted");
        await connection.ExecuteAsync("UPDATE dp.staged_files SET complete = false WHERE id = @id", new { id = inFiles.Id });
        await fileStore.DeleteIncompleteAsync([inFiles.Id, inDatabase.Id]);
        Assert.False(File.Exists(fileOf), "the bytes of an unfinished upload were kept");
        Assert.Equal(0L, await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM dp.staged_files WHERE id = ANY(@ids)", new { ids = new[] { inFiles.Id, inDatabase.Id } }));
        Assert.True(Directory.GetFiles(platform.StagingDirectory).Length <= before - 1);
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer);
        return buffer.ToArray();
    }
}
