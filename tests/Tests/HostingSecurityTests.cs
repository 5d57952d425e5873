using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using DatasetPlatform.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;

namespace DatasetPlatform.Tests;

/// <summary>What the running service exposes: Orleans ports on loopback only, a PostgreSQL role that is no superuser.</summary>
[Collection(nameof(PlatformCollection))]
public sealed class HostingSecurityTests(PlatformFixture platform)
{
    [Fact]
    public async Task The_embedded_silo_listens_on_loopback_only()
    {
        var endpoints = platform.Services.GetRequiredService<IOptions<EndpointOptions>>().Value;
        Assert.True(IPAddress.IsLoopback(endpoints.AdvertisedIPAddress), $"advertised {endpoints.AdvertisedIPAddress}");
        // Without explicit listening endpoints, Orleans listens on the advertised address.
        var silo = endpoints.SiloListeningEndpoint ?? new IPEndPoint(endpoints.AdvertisedIPAddress, endpoints.SiloPort);
        var gateway = endpoints.GatewayListeningEndpoint ?? new IPEndPoint(endpoints.AdvertisedIPAddress, endpoints.GatewayPort);
        Assert.True(IPAddress.IsLoopback(silo.Address), $"silo listens on {silo}");
        Assert.True(IPAddress.IsLoopback(gateway.Address), $"gateway listens on {gateway}");

        // What the kernel says: every listening socket on those ports is bound to a loopback address.
        foreach (var port in new[] { silo.Port, gateway.Port })
        {
            var listeners = ListeningAddresses(port);
            Assert.NotEmpty(listeners);
            Assert.All(listeners, address => Assert.True(IPAddress.IsLoopback(address), $"port {port} listens on {address}"));
        }

        // And from the outside: the machine's other addresses refuse the connection.
        var external = NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses.Select(u => u.Address))
            .Where(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
        foreach (var address in external)
        {
            using var client = new TcpClient();
            var error = await Assert.ThrowsAsync<SocketException>(() => client.ConnectAsync(address, silo.Port).WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
        }
    }

    [Fact]
    public async Task The_service_connects_as_the_owner_of_its_schema_not_as_a_superuser()
    {
        var dataSource = platform.Services.GetRequiredService<NpgsqlDataSource>();
        await using var connection = await dataSource.OpenConnectionAsync();
        await using (var command = new NpgsqlCommand(
            """
            SELECT r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,
                   (SELECT nspowner = r.oid FROM pg_namespace WHERE nspname = 'dp'), (SELECT nspowner = r.oid FROM pg_namespace WHERE nspname = 'dp_data')
            FROM pg_roles r WHERE r.rolname = current_user
            """, connection))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            Assert.True(await reader.ReadAsync());
            Assert.False(reader.GetBoolean(0), "the service's role is a superuser");
            Assert.False(reader.GetBoolean(1), "the service's role may create roles");
            Assert.False(reader.GetBoolean(2), "the service's role may create databases");
            Assert.False(reader.GetBoolean(3), "the service's role bypasses row security");
            Assert.True(reader.GetBoolean(4), "the service's role does not own schema dp");
            Assert.True(reader.GetBoolean(5), "the service's role does not own schema dp_data");
        }

        foreach (var forbidden in new[] { "CREATE EXTENSION file_fdw", "SELECT rolpassword FROM pg_authid", "COPY (SELECT 1) TO PROGRAM 'true'" })
        {
            await using var command = new NpgsqlCommand(forbidden, connection);
            var error = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, error.SqlState);
        }
    }

    /// <summary>Local addresses of the TCP sockets listening on <paramref name="port"/>, from /proc/net/tcp and tcp6.</summary>
    private static List<IPAddress> ListeningAddresses(int port)
    {
        var found = new List<IPAddress>();
        foreach (var file in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            if (!File.Exists(file)) continue;
            foreach (var line in File.ReadLines(file).Skip(1))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length < 4 || fields[3] != "0A") continue; // 0A = LISTEN
                var local = fields[1].Split(':');
                if (int.Parse(local[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture) != port) continue;
                // The kernel prints the address as 32-bit words in host (little-endian) order.
                var bytes = Convert.FromHexString(local[0]);
                for (var word = 0; word < bytes.Length; word += 4) Array.Reverse(bytes, word, 4);
                var address = new IPAddress(bytes);
                found.Add(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);
            }
        }
        return found;
    }
}
