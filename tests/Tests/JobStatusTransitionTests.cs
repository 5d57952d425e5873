using Dapper;
using DatasetPlatform.Grains.Abstractions;
using DatasetPlatform.Grains.Hosting;
using DatasetPlatform.Grains.Storage;
using DatasetPlatform.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace DatasetPlatform.Tests;

/// <summary>
/// The job store is the one owner of an import job's status: each change is one method, and it moves only a job in a state that
/// change may leave. Against a real database of its own (no silo runs there, so nothing else moves these jobs).
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class JobStatusTransitionTests(PlatformFixture platform) : IAsyncLifetime
{
    private NpgsqlDataSource _dataSource = null!;
    private readonly LogSink _logs = new();
    private ILoggerFactory _loggers = null!;
    private JobStore _jobs = null!;
    private long _datasetId;

    public async Task InitializeAsync()
    {
        _dataSource = NpgsqlDataSource.Create(await platform.CreateDatabaseAsync());
        await SchemaBootstrapper.ApplyAsync(_dataSource);
        DefaultTypeMap.MatchNamesWithUnderscores = true;
        _loggers = LoggerFactory.Create(b => b.AddProvider(_logs));
        _jobs = new JobStore(_dataSource, new StagingStore(_dataSource, new DatabasePoolOptions()), _loggers.CreateLogger<JobStore>());
        await using var connection = await _dataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("INSERT INTO dp.api_keys (id, secret_hash, name, is_admin) VALUES ('k', '\\x00', 'test', true)");
        var repository = await connection.ExecuteScalarAsync<long>(
            "INSERT INTO dp.repositories (name, slug, privacy, owner_key_id) VALUES ('r', 'r', 'Private', 'k') RETURNING id");
        _datasetId = await connection.ExecuteScalarAsync<long>("INSERT INTO dp.datasets (repository_id, name) VALUES (@repository, 'd') RETURNING id", new { repository });
    }

    public async Task DisposeAsync()
    {
        _loggers.Dispose();
        await _dataSource.DisposeAsync();
    }

    private async Task<long> JobAsync(string status, DateTime? uploadExpiresAt = null)
    {
        await using var connection = await _dataSource.OpenConnectionAsync();
        var fileId = Guid.NewGuid();
        await connection.ExecuteAsync("INSERT INTO dp.staged_files (id, dataset_id, file_name, complete) VALUES (@fileId, @datasetId, 'f.csv', true)",
            new { fileId, datasetId = _datasetId });
        return await connection.ExecuteScalarAsync<long>(
            """
            INSERT INTO dp.import_jobs (dataset_id, source, status, staged_file_id, upload_expires_at)
            VALUES (@datasetId, 'multipart', @status, @fileId, @uploadExpiresAt) RETURNING id
            """, new { datasetId = _datasetId, status, fileId, uploadExpiresAt });
    }

    private async Task<string> StatusAsync(long jobId) => (await _jobs.GetAsync(jobId))!.Status;

    public static readonly TheoryData<string, string, bool> Changes = new()
    {
        // change, from, applies
        { "MarkProcessing", JobStatus.Queued, true },
        { "MarkProcessing", JobStatus.Processing, true },
        { "MarkProcessing", JobStatus.Complete, false },
        { "MarkProcessing", JobStatus.Uninitialised, false },
        { "HandBack", JobStatus.Processing, true },
        { "HandBack", JobStatus.Queued, false },
        { "HandBack", JobStatus.Failed, false },
        { "Fail", JobStatus.Processing, true },
        { "Fail", JobStatus.Queued, true },
        { "Fail", JobStatus.Complete, false },
        { "Fail", JobStatus.Skipped, false },
        { "Fail", JobStatus.Uninitialised, false },
    };

    [Theory]
    [MemberData(nameof(Changes))]
    public async Task A_status_change_moves_only_a_job_in_a_state_it_may_leave(string change, string from, bool applies)
    {
        var jobId = await JobAsync(from);
        var (applied, to) = change switch
        {
            "MarkProcessing" => (await _jobs.MarkProcessingAsync(jobId, firstRunOfActivation: true) is not null, JobStatus.Processing),
            "HandBack" => (await _jobs.HandBackAsync(jobId), JobStatus.Queued),
            "Fail" => (await _jobs.FailAsync(jobId, new ImportFailureRecord(JobStatus.Failed, "Bad row 3\0")), JobStatus.Failed),
            _ => throw new ArgumentOutOfRangeException(nameof(change)),
        };
        Assert.Equal(applies, applied);
        Assert.Equal(applies ? to : from, await StatusAsync(jobId));
        // A refused change is logged as such (a hand-back of a job that is not processing is no change at all, not a refusal).
        Assert.Equal(!applies && change != "HandBack", _logs.Entries.Any(e => e.Message.StartsWith($"Import {jobId}: status change {change} refused", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_first_run_that_finds_its_job_still_processing_counts_a_crash_and_a_retry_or_a_queued_job_does_not()
    {
        var queued = await JobAsync(JobStatus.Queued);
        var started = await _jobs.MarkProcessingAsync(queued, firstRunOfActivation: true);
        Assert.Equal((JobStatus.Processing, 0), (started!.Status, started.Crashes));
        Assert.NotNull(started.StartedAt);
        // The same activation's retry after a transient error: the job is processing because of this run, not a dead one.
        var retried = await _jobs.MarkProcessingAsync(queued, firstRunOfActivation: false);
        Assert.Equal((JobStatus.Processing, 0, started.StartedAt), (retried!.Status, retried.Crashes, retried.StartedAt));

        // A new activation finds it processing: the run before never came back.
        var restarted = await _jobs.MarkProcessingAsync(queued, firstRunOfActivation: true);
        Assert.Equal(1, restarted!.Crashes);
        Assert.Equal(2, (await _jobs.MarkProcessingAsync(queued, firstRunOfActivation: true))!.Crashes);
        Assert.Equal(2, (await _jobs.GetAsync(queued))!.Crashes);

        // A job handed back by a stopping silo is queued again: its next run counts nothing.
        Assert.True(await _jobs.HandBackAsync(queued));
        Assert.Equal(2, (await _jobs.MarkProcessingAsync(queued, firstRunOfActivation: true))!.Crashes);
    }

    [Fact]
    public async Task A_failed_job_records_its_reason_and_drops_its_staged_file()
    {
        var jobId = await JobAsync(JobStatus.Processing);
        Assert.True(await _jobs.FailAsync(jobId, new ImportFailureRecord(JobStatus.Failed, "Row 2, column 'x': not a number \0", "[]", 1, 7)));
        var job = (await _jobs.GetAsync(jobId))!;
        Assert.Equal("Row 2, column 'x': not a number \uFFFD", job.Reason);
        Assert.Equal(7, job.RowsRead);
        Assert.Null(job.StagedFileId); // the file went (its foreign key is set null)
    }

    [Fact]
    public async Task Finishing_a_job_that_is_no_longer_pending_throws_so_the_load_rolls_back()
    {
        var jobId = await JobAsync(JobStatus.Failed);
        await using var connection = await _dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        var outcome = new ImportOutcome(jobId, JobStatus.Complete, "1 values added to database.", 1, 1, 0, 0, 0, null, 1, 0, 0, 1, null, null, 0, null);
        await Assert.ThrowsAsync<InvalidOperationException>(() => _jobs.FinishAsync(connection, transaction, outcome, CancellationToken.None));
        await transaction.RollbackAsync();
        Assert.Equal(JobStatus.Failed, await StatusAsync(jobId));

        var pending = await JobAsync(JobStatus.Processing);
        await using var second = await connection.BeginTransactionAsync();
        await _jobs.FinishAsync(connection, second, outcome with { JobId = pending }, CancellationToken.None);
        await second.CommitAsync();
        var job = (await _jobs.GetAsync(pending))!;
        Assert.Equal((JobStatus.Complete, "1 values added to database.", 0), (job.Status, job.StatusDescription, job.VersionProduced));
    }

    [Fact]
    public async Task Only_presigned_jobs_whose_url_expired_a_day_ago_without_a_file_expire()
    {
        var expired = await JobAsync(JobStatus.Uninitialised, DateTime.UtcNow.AddDays(-2));
        var recent = await JobAsync(JobStatus.Uninitialised, DateTime.UtcNow.AddHours(-1));
        var queued = await JobAsync(JobStatus.Queued, DateTime.UtcNow.AddDays(-2));
        Assert.Equal(1, await _jobs.ExpireUnsentUploadsAsync(CancellationToken.None));
        Assert.Equal(JobStatus.Failed, await StatusAsync(expired));
        Assert.Equal("The upload URL expired before a file was uploaded.", (await _jobs.GetAsync(expired))!.Reason);
        Assert.Equal(JobStatus.Uninitialised, await StatusAsync(recent));
        Assert.Equal(JobStatus.Queued, await StatusAsync(queued));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_upload_is_queued_once_with_its_file_complete_and_a_file_discarded_meanwhile_queues_nothing(bool inDirectory)
    {
        // The acknowledging commit is one statement (the file's complete mark, and the job under its queue lock): both or neither.
        var directory = Directory.CreateTempSubdirectory("dp-staging-test-");
        try
        {
            var databaseStore = new StagingStore(_dataSource, new DatabasePoolOptions());
            IStagedFileStore staging = inDirectory
                ? new FileStagingStore(directory.FullName, TimeSpan.FromMinutes(1), _dataSource, databaseStore, Microsoft.Extensions.Logging.Abstractions.NullLogger<FileStagingStore>.Instance)
                : databaseStore;
            var jobs = new JobStore(_dataSource, staging, _loggers.CreateLogger<JobStore>());
            var request = new ImportRequest(_datasetId, JobSources.Multipart, "f.csv", false, true, false, null, "k");
            await using var connection = await _dataSource.OpenConnectionAsync();
            async Task<long> JobCount() =>
                await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM dp.import_jobs WHERE dataset_id = @id", new { id = _datasetId });

            await using (var session = await jobs.BeginUploadAsync(CancellationToken.None))
            {
                var kept = await StageAsync(session, "Date,Entity,V\n2024-01-01,a,1\n");
                var job = await session.CommitJobAsync(request, kept, CancellationToken.None);
                Assert.Equal((JobStatus.Queued, kept.Id, kept.ByteCount), (job.Status, job.StagedFileId, job.ByteCount));
                Assert.True(await connection.ExecuteScalarAsync<bool>("SELECT complete FROM dp.staged_files WHERE id = @id", new { id = kept.Id }));
                Assert.True(await connection.ExecuteScalarAsync<long?>("SELECT queue_seq FROM dp.import_jobs WHERE id = @id", new { id = job.Id }) > 0);

                // The same file committed again (its bytes are all there, but it is complete already): no second job.
                var again = await Assert.ThrowsAsync<StagedFileLostException>(() => session.CommitJobAsync(request, kept, CancellationToken.None));
                Assert.Contains("discarded", again.Message);
                Assert.Equal(1, await JobCount());
            }

            // Swept as abandoned (or its dataset deleted) while the client was still sending: the upload is refused, nothing is queued.
            await using (var session = await jobs.BeginUploadAsync(CancellationToken.None))
            {
                var discarded = await StageAsync(session, "Date,Entity,V\n2024-01-02,b,2\n");
                await connection.ExecuteAsync("DELETE FROM dp.staged_files WHERE id = @id", new { id = discarded.Id });
                var refused = await Assert.ThrowsAsync<StagedFileLostException>(() => session.CommitJobAsync(request, discarded, CancellationToken.None));
                Assert.Contains("discarded", refused.Message);
            }
            Assert.Equal(1, await JobCount());
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private async Task<StagedFile> StageAsync(UploadSession session, string text) =>
        await session.StageAsync(_datasetId, "f.csv", new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text)), 1 << 20, CancellationToken.None);
}
