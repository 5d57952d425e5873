using DatasetPlatform.Grains.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace DatasetPlatform.Api.Apis;

/// <summary>What a client is told when a read of a dataset's rows fails before any byte of the answer was sent.</summary>
public static class ReadFailures
{
    /// <summary>The problem for a failed read, or null when the exception is not a database failure (it then propagates).</summary>
    public static ProblemHttpResult? ProblemFor(Exception exception, ReadOptions options) => exception switch
    {
        PostgresException { SqlState: PostgresErrorCodes.QueryCanceled } e when e.MessageText.Contains("statement timeout", StringComparison.Ordinal) =>
            Problems.Create(StatusCodes.Status503ServiceUnavailable, "Query timed out", "query-timeout",
                $"The query ran longer than the read limit of {options.StatementTimeoutSeconds} s and was stopped " +
                "(DP_READ_STATEMENT_TIMEOUT_SECONDS). Ask for less ($filter, $select, $top), or ask the operator to raise the limit."),
        PostgresException { SqlState: PostgresErrorCodes.QueryCanceled } =>
            Problems.Create(StatusCodes.Status503ServiceUnavailable, "Query cancelled", "query-cancelled",
                "The database cancelled the query (an operator or a shutdown); try again."),
        PostgresException e =>
            Problems.Create(StatusCodes.Status500InternalServerError, "The rows could not be read", "read-failed",
                $"The database could not read the rows ({e.SqlState}: {e.MessageText})."),
        NpgsqlException =>
            Problems.Create(StatusCodes.Status503ServiceUnavailable, "Database unavailable", "database-unavailable",
                "The database could not be reached to read the rows; try again."),
        _ => null,
    };
}
