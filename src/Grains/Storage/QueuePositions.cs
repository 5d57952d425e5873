using Dapper;
using Npgsql;

namespace DatasetPlatform.Grains.Storage;

/// <summary>
/// Positions in a dataset's queue. Uploads take theirs (queue_seq) when their job commits; a change to the dataset takes
/// one from the same sequence when it reaches the dataset grain, so "committed before it" is a comparison of two numbers.
/// </summary>
public sealed class QueuePositions(NpgsqlDataSource dataSource)
{
    /// <summary>A position after every job committed so far.</summary>
    public async Task<long> TakeAsync()
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.ExecuteScalarAsync<long>("SELECT nextval('dp.import_queue_seq')");
    }

    /// <summary>
    /// The head of the dataset's queue: a job already processing (it started; a job that committed later with an earlier
    /// position must not overtake it, even when a new activation of the dataset grain asks), else the oldest job not
    /// finished yet; with its position (long.MaxValue for a job that has none, which sorts last). A processing head reports
    /// position 0, so no pending change applies while it runs.
    /// </summary>
    public async Task<(long JobId, long Position)?> HeadAsync(long datasetId)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var head = await connection.QueryAsync<(long Id, long? Seq)>(
            "SELECT id, CASE WHEN status = 'processing' THEN 0 ELSE queue_seq END FROM dp.import_jobs WHERE dataset_id = @datasetId AND status IN ('queued', 'processing') "
            + "ORDER BY status = 'processing' DESC, queue_seq, id LIMIT 1",
            new { datasetId });
        return head.Select(h => ((long, long)?)(h.Id, h.Seq ?? long.MaxValue)).FirstOrDefault();
    }
}
