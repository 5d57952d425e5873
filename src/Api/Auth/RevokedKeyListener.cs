using DatasetPlatform.Grains.Storage;
using Microsoft.Extensions.Caching.Memory;
using Npgsql;

namespace DatasetPlatform.Api.Auth;

/// <summary>
/// Makes a key revoked at any gateway of the cluster stop working on this one at once: listens (on a connection of its own)
/// for the revocations <see cref="KeyStore.RevokeAsync"/> announces and marks each key revoked in this gateway's cache of
/// verified keys. While the listener has no connection, revocations are missed for at most
/// <see cref="ApiKeyAuthenticationHandler.CacheFor"/> (cache entries expire); on every (re)connect it marks the keys revoked
/// within that window, so one missed during the outage stops working as soon as it is back.
/// </summary>
public sealed partial class RevokedKeyListener(NpgsqlDataSource listenerSource, KeyStore keys, IMemoryCache cache, ILogger<RevokedKeyListener> logger)
    : BackgroundService
{
    private static readonly TimeSpan MaxReconnectDelay = TimeSpan.FromSeconds(30);

    /// <summary>Added to the cache lifetime when catching up: a revocation commits a moment after its timestamp is taken.</summary>
    private static readonly TimeSpan CatchUpMargin = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await listenerSource.OpenConnectionAsync(stoppingToken);
                connection.Notification += (_, e) => ApiKeyAuthenticationHandler.ForgetRevokedKey(cache, e.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {KeyStore.RevocationChannel}", connection))
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                // Listening from here on; revocations before this moment that a cache entry may still hide are marked now.
                foreach (var id in await keys.RevokedWithinAsync(ApiKeyAuthenticationHandler.CacheFor + CatchUpMargin, stoppingToken))
                    ApiKeyAuthenticationHandler.ForgetRevokedKey(cache, id);
                LogListening(logger);
                delay = TimeSpan.FromSeconds(1);
                while (true) await connection.WaitAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogListenerLost(logger, e, delay.TotalSeconds, ApiKeyAuthenticationHandler.CacheFor.TotalSeconds);
                try { await Task.Delay(delay, stoppingToken); }
                catch (OperationCanceledException) { return; }
                delay = TimeSpan.FromSeconds(Math.Min(delay.TotalSeconds * 2, MaxReconnectDelay.TotalSeconds));
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Listening for API key revocations from every gateway")]
    private static partial void LogListening(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Lost the connection that listens for API key revocations; retrying in {DelaySeconds} s. Until then keys revoked at other gateways are refused here within {CacheSeconds} s")]
    private static partial void LogListenerLost(ILogger logger, Exception exception, double delaySeconds, double cacheSeconds);
}
