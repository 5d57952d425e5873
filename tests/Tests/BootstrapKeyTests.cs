using DatasetPlatform.Grains.Storage;
using DatasetPlatform.Tests.Infrastructure;
using Npgsql;

namespace DatasetPlatform.Tests;

/// <summary>Gateways that start together on an empty database mint exactly one bootstrap admin key between them.</summary>
[Collection(nameof(PlatformCollection))]
public sealed class BootstrapKeyTests(PlatformFixture platform)
{
    [Fact]
    public async Task Concurrent_starts_on_an_empty_database_mint_one_admin_key()
    {
        await using var dataSource = NpgsqlDataSource.Create(await platform.CreateDatabaseAsync());
        await SchemaBootstrapper.ApplyAsync(dataSource);
        // One store per "gateway", as each process would have its own.
        var minted = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => new KeyStore(dataSource).CreateBootstrapAdminIfNoneAsync()));

        var issued = Assert.Single(minted, key => key is not null);
        Assert.NotNull(await new KeyStore(dataSource).VerifyAsync(issued!.Key));
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var count = new NpgsqlCommand("SELECT count(*) FROM dp.api_keys WHERE is_admin", connection);
        Assert.Equal(1L, (long)(await count.ExecuteScalarAsync())!);
        // A later start finds the key and mints none.
        Assert.Null(await new KeyStore(dataSource).CreateBootstrapAdminIfNoneAsync());
    }
}
