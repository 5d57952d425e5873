namespace DatasetPlatform.Grains.Storage;

/// <summary>
/// The SQL call that lets the current transaction commit without waiting for its WAL flush (synchronous_commit off, for this
/// transaction only), placed in a statement of that transaction. Only for rows whose loss in a crash of PostgreSQL a later
/// step notices and repairs (a staged chunk or file row, a presigned claim, a 'processing' mark): the commit that acknowledges
/// an upload, or ends an import, is synchronous, and flushing the WAL up to it flushes every earlier commit with it.
/// </summary>
internal static class AsyncCommit
{
    public const string ForThisTransaction = "set_config('synchronous_commit', 'off', true)";
}
