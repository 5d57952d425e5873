using Dapper;
using Npgsql;

namespace DatasetPlatform.Grains.Storage;

/// <summary>
/// Positions in a dataset's queue. Uploads take theirs (queue_seq) when their job commits; a change to the dataset takes
/// one from the same sequence when it reaches the dataset grain, so "committed before it" is a comparison of two numbers.
/// Every position of a dataset is taken under that dataset's queue lock, held until the taking transaction commits: without
/// it, two uploads committing at once could become visible in the other order than their positions (seen in a burst of
/// uploads: the later position ran first, and the earlier one then had to wait behind it).
/// </summary>
public sealed class QueuePositions(NpgsqlDataSource dataSource)
{
    /// <summary>
    /// Takes the dataset's queue lock until the end of the transaction; positions taken after it sort after every job
    /// already committed and before every job committed later. Only the dataset's own uploads and changes wait for it.
    /// </summary>
    public const string LockQueueSql = "SELECT pg_advisory_xact_lock(hashtextextended('dp.import_queue', @QueueDatasetId))";

    /// <summary><see cref="LockQueueSql"/> for the dataset of job <c>@jobId</c>.</summary>
    public const string LockQueueOfJobSql = "SELECT pg_advisory_xact_lock(hashtextextended('dp.import_queue', dataset_id)) FROM dp.import_jobs WHERE id = @jobId";

    /// <summary>A position after every job of the dataset committed so far (and every one still committing).</summary>
    public async Task<long> TakeAsync(long datasetId)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await connection.ExecuteAsync(LockQueueSql, new { QueueDatasetId = datasetId }, transaction);
        var position = await connection.ExecuteScalarAsync<long>("SELECT nextval('dp.import_queue_seq')", transaction: transaction);
        await transaction.CommitAsync();
        return position;
    }

    /// <summary>
    /// The head of the dataset's queue: <paramref name="running"/>, the job the dataset grain started, while it is unfinished (a
    /// job that committed later with an earlier position must not overtake it); else a job already processing (it started: the
    /// same holds when a new activation of the dataset grain asks), else the oldest job not finished yet; with its position
    /// (long.MaxValue for a job that has none, which sorts last). A processing head reports position 0, so no pending change
    /// applies while it runs. One statement, whether or not a job runs: the dataset grain asks at every start and finish.
    /// </summary>
    public async Task<QueueHead?> HeadAsync(long datasetId, long? running = null)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        // Two rows: the head, and whether another job waits behind it (the dataset grain then starts it as soon as the head
        // finishes, instead of taking the queue as empty).
        var rows = (await connection.QueryAsync<(long Id, long? Seq)>(
            "SELECT id, CASE WHEN status = 'processing' THEN 0 ELSE queue_seq END FROM dp.import_jobs WHERE dataset_id = @datasetId AND status IN ('queued', 'processing') "
            + "ORDER BY (id = @running) IS TRUE DESC, status = 'processing' DESC, queue_seq, id LIMIT 2",
            new { datasetId, running })).ToList();
        return rows.Count == 0 ? null : new QueueHead(rows[0].Id, rows[0].Seq ?? long.MaxValue, MoreWaiting: rows.Count > 1);
    }
}

/// <summary>The job at the head of a dataset's queue, its position, and whether another job waits behind it.</summary>
public readonly record struct QueueHead(long JobId, long Position, bool MoreWaiting);
