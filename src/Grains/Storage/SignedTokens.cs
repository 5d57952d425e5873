using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Buffers.Text;
using System.Text;
using Dapper;
using Npgsql;

namespace DatasetPlatform.Grains.Storage;

/// <summary>
/// Short signed tokens (presigned upload URLs, OAuth access tokens): base64url(payload).base64url(HMAC-SHA256).
/// The HMAC key lives in dp.secrets, created once by whichever process needs it first, so every gateway of a
/// cluster signs and verifies alike. Each purpose has its own key.
/// </summary>
public sealed class SignedTokens(NpgsqlDataSource dataSource)
{
    private readonly ConcurrentDictionary<string, byte[]> _secrets = new();

    public async Task<string> SignAsync(string purpose, string payload)
    {
        var bytes = Encoding.UTF8.GetBytes(payload);
        var mac = HMACSHA256.HashData(await SecretAsync(purpose), bytes);
        return $"{Base64Url.EncodeToString(bytes)}.{Base64Url.EncodeToString(mac)}";
    }

    /// <summary>The payload when <paramref name="token"/> was signed by us for <paramref name="purpose"/>; null when forged or malformed.</summary>
    public async Task<string?> VerifyAsync(string purpose, string token)
    {
        var dot = token.IndexOf('.');
        if (dot <= 0 || dot == token.Length - 1) return null;
        byte[] payload, mac;
        try
        {
            payload = Base64Url.DecodeFromChars(token.AsSpan(0, dot));
            mac = Base64Url.DecodeFromChars(token.AsSpan(dot + 1));
        }
        catch (FormatException) { return null; }
        var expected = HMACSHA256.HashData(await SecretAsync(purpose), payload);
        return CryptographicOperations.FixedTimeEquals(expected, mac) ? Encoding.UTF8.GetString(payload) : null;
    }

    private async Task<byte[]> SecretAsync(string purpose)
    {
        if (_secrets.TryGetValue(purpose, out var cached)) return cached;
        await using var connection = await dataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("INSERT INTO dp.secrets (name, value) VALUES (@purpose, @value) ON CONFLICT (name) DO NOTHING",
            new { purpose, value = RandomNumberGenerator.GetBytes(32) });
        var secret = await connection.ExecuteScalarAsync<byte[]>("SELECT value FROM dp.secrets WHERE name = @purpose", new { purpose });
        return _secrets.GetOrAdd(purpose, secret!);
    }
}
