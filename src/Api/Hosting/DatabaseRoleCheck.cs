using Dapper;
using Npgsql;

namespace DatasetPlatform.Api.Hosting;

/// <summary>
/// Warns at start when the service's PostgreSQL role can do more than own its database (a superuser, or a role that may
/// create roles or databases): a flaw anywhere in the service would then reach the whole server. ./run.sh sets up a
/// least-privilege role; a DP_POSTGRES given by an operator may not.
/// </summary>
internal sealed partial class DatabaseRoleCheck(NpgsqlDataSource dataSource, ILogger<DatabaseRoleCheck> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var role = await connection.QuerySingleAsync<(string Name, bool Super, bool CreateRole, bool CreateDb)>(
            "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user");
        if (role.Super || role.CreateRole || role.CreateDb) LogOverPrivileged(role.Name, role.Super, role.CreateRole, role.CreateDb);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Warning, Message = "The service connects to PostgreSQL as {Role} (superuser {Superuser}, CREATEROLE {CreateRole}, "
        + "CREATEDB {CreateDb}); give it a role that only owns its database (see README, \"Security of a deployment\")")]
    private partial void LogOverPrivileged(string role, bool superuser, bool createRole, bool createDb);
}
