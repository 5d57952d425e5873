using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace DatasetPlatform.LoadTest;

/// <summary>How a request authenticates, the way each surface's clients do it (shared/API.md).</summary>
public enum Auth
{
    None,
    Basic,
    Token,
    Bearer,
}

/// <summary>An HTTP answer: status (0 when no answer came) and the body read as text.</summary>
public sealed record Reply(int Status, string Body)
{
    public bool Ok => Status is >= 200 and < 300;

    public override string ToString() => Status == 0 ? Body : $"{Status} {(Body.Length > 300 ? Body[..300] + "..." : Body)}";
}

/// <summary>Counts of every answer by status (and of requests that got none), over all requests of a run.</summary>
public sealed class StatusCounts
{
    private readonly ConcurrentDictionary<string, int> _counts = new();

    public void Add(string status) => _counts.AddOrUpdate(status, 1, (_, n) => n + 1);

    public IReadOnlyList<KeyValuePair<string, int>> Snapshot() => [.. _counts.OrderBy(c => c.Key, StringComparer.Ordinal)];
}

/// <summary>
/// One gateway of the service, as a client sees it. Busy answers (429, and 503 where the caller says the request is safe to repeat) are
/// retried after their Retry-After, as the API asks; every answer is counted by status.
/// </summary>
public sealed class GatewayClient(HttpClient http, string apiKey, StatusCounts counts, string label)
{
    private static readonly TimeSpan MaxRetryWait = TimeSpan.FromSeconds(5);

    public HttpClient Http { get; } = http;

    /// <summary>Where this gateway is (its base URL, or "in-process").</summary>
    public string Label { get; } = label;

    public string ApiKey { get; } = apiKey;

    /// <summary>Sends a request built by <paramref name="build"/> (called again for each retry) and reads the whole answer.</summary>
    public async Task<Reply> SendAsync(Func<HttpRequestMessage> build, Auth auth, bool retryUnavailable, DateTime deadline, CancellationToken cancellationToken)
    {
        while (true)
        {
            using var request = build();
            Authorize(request, auth);
            HttpResponseMessage response;
            try
            {
                response = await Http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
            }
            catch (Exception e) when (e is HttpRequestException or IOException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
            {
                counts.Add("no answer (" + e.GetType().Name + ")");
                return new Reply(0, $"no answer: {e.GetType().Name}: {e.Message}");
            }
            using (response)
            {
                var status = (int)response.StatusCode;
                counts.Add(status.ToString(System.Globalization.CultureInfo.InvariantCulture));
                var body = await response.Content.ReadAsStringAsync(cancellationToken);
                var busy = status == 429 || (retryUnavailable && status == 503);
                if (!busy || DateTime.UtcNow > deadline) return new Reply(status, body);
                var wait = response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1);
                await Task.Delay(wait > MaxRetryWait ? MaxRetryWait : wait, cancellationToken);
            }
        }
    }

    /// <summary>Opens a streamed GET (a download); the caller reads and disposes the response.</summary>
    public async Task<HttpResponseMessage> GetStreamAsync(string path, Auth auth, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        Authorize(request, auth);
        var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        counts.Add(((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture));
        return response;
    }

    private void Authorize(HttpRequestMessage request, Auth auth)
    {
        request.Headers.Authorization = auth switch
        {
            Auth.Basic => new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(ApiKey + ":"))),
            Auth.Token => new AuthenticationHeaderValue("Token", ApiKey),
            Auth.Bearer => new AuthenticationHeaderValue("Bearer", ApiKey),
            _ => null,
        };
    }

    public static FormUrlEncodedContent Form(params (string Key, string Value)[] fields) =>
        new(fields.Select(f => new KeyValuePair<string, string>(f.Key, f.Value)));

    public static bool IsSuccess(HttpStatusCode status) => (int)status is >= 200 and < 300;
}
