using DatasetPlatform.Grains.Storage;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace DatasetPlatform.Api.Hosting;

/// <summary>
/// On first start (no admin key yet) mints an admin key, prints it and writes it to DP_DATA_DIR/bootstrap-key.txt;
/// on every start prints where the service listens.
/// </summary>
internal sealed partial class BootstrapKeyService(KeyStore keys, IOptions<PlatformOptions> options, IServer server,
    IHostApplicationLifetime lifetime, ILogger<BootstrapKeyService> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var keyFile = Path.GetFullPath(Path.Combine(options.Value.DataDir, "bootstrap-key.txt"));
        if (await keys.CreateBootstrapAdminIfNoneAsync() is { } issued)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(keyFile)!);
            await File.WriteAllTextAsync(keyFile, issued.Key + Environment.NewLine, cancellationToken);
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            Console.WriteLine($"Bootstrap admin API key: {issued.Key}");
            Console.WriteLine($"(also written to {keyFile})");
        }
        else if (File.Exists(keyFile))
        {
            Console.WriteLine($"Bootstrap admin API key is in {keyFile}");
        }
        lifetime.ApplicationStarted.Register(() =>
        {
            var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            foreach (var address in addresses) LogListening(address);
        });
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "DatasetPlatform is ready at {Address}")]
    private partial void LogListening(string address);
}
