using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using DatasetPlatform.Cli.Config;

namespace DatasetPlatform.Cli.Http;

/// <summary>
/// The HTTP client of the CLI: the gateway's public API only. Errors come back as <see cref="ApiException"/> with the
/// ProblemDetails read; bodies of uploads and downloads stream through, never held whole. A 429 (a gateway at its limit of
/// concurrent uploads or downloads) is sent again after its Retry-After, a bounded number of times, each said on stderr.
/// </summary>
internal sealed class DpApi : IDisposable
{
    // Small JSON calls only; uploads and downloads take as long as their bytes need, bounded by the caller's token.
    private static readonly TimeSpan JsonCallTimeout = TimeSpan.FromSeconds(100);

    /// <summary>Sends of one request at most when the gateway answers 429 each time.</summary>
    public const int MaxAttempts = 5;
    /// <summary>The longest wait for a Retry-After (a date far ahead, or a proxy's huge value, is cut to this).</summary>
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(60);
    /// <summary>The wait when a 429 names none (the gateway always does; a proxy in front may not).</summary>
    private static readonly TimeSpan DefaultRetryDelay = TimeSpan.FromSeconds(5);

    private readonly HttpClient _http;
    private readonly string _key;
    private readonly Action<string> _notice;

    /// <param name="notice">Where a retry is announced (stderr).</param>
    public DpApi(Connection connection, Action<string> notice, HttpMessageHandler? handler = null)
    {
        _notice = notice;
        _http = new HttpClient(handler ?? new SocketsHttpHandler(), disposeHandler: true)
        {
            BaseAddress = connection.Url,
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("dp", typeof(DpApi).Assembly.GetName().Version?.ToString(3) ?? "1.0"));
        _key = connection.Key;
        BaseUrl = connection.Url;
    }

    public Uri BaseUrl { get; }

    private AuthenticationHeaderValue Credentials(Surface surface) => surface switch
    {
        Surface.Alphacast => new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(_key + ":"))),
        Surface.Presigned => new AuthenticationHeaderValue("Token", _key),
        _ => new AuthenticationHeaderValue("Bearer", _key),
    };

    public Task<ApiJson> GetAsync(Surface surface, string path, CancellationToken cancellationToken) =>
        SendAsync(surface, HttpMethod.Get, path, null, cancellationToken);

    public async Task<ApiJson> SendAsync(Surface surface, HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken,
        bool bounded = true)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (bounded) timeout.CancelAfter(JsonCallTimeout);
        HttpRequestMessage Request()
        {
            var request = new HttpRequestMessage(method, path) { Content = content };
            request.Headers.Authorization = Credentials(surface);
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            return request;
        }
        try
        {
            using var response = await SendRetryingAsync(Request, HttpCompletionOption.ResponseContentRead, timeout.Token);
            var body = await response.Content.ReadAsStringAsync(timeout.Token);
            if (!response.IsSuccessStatusCode) throw ApiException.From(response.StatusCode, response.ReasonPhrase, body);
            long? total = response.Headers.TryGetValues("X-Total-Count", out var values) && long.TryParse(values.FirstOrDefault(), out var n) ? n : null;
            if (string.IsNullOrWhiteSpace(body)) return new ApiJson("", default, total);
            using var document = JsonDocument.Parse(body);
            return new ApiJson(body, document.RootElement.Clone(), total);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CliException(ExitCodes.Error, $"{method} {path}: no answer from {BaseUrl} within {JsonCallTimeout.TotalSeconds:0} s.");
        }
        catch (JsonException e)
        {
            throw new CliException(ExitCodes.Error, $"{method} {path}: the answer is not JSON ({e.Message}).");
        }
    }

    /// <summary>A GET whose body the caller streams; an error answer is thrown before any of it is read.</summary>
    public async Task<HttpResponseMessage> OpenAsync(Surface surface, string path, CancellationToken cancellationToken)
    {
        HttpRequestMessage Request()
        {
            var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Authorization = Credentials(surface);
            return request;
        }
        var response = await SendRetryingAsync(Request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (response.IsSuccessStatusCode) return response;
        using (response)
        {
            throw ApiException.From(response.StatusCode, response.ReasonPhrase, await response.Content.ReadAsStringAsync(cancellationToken));
        }
    }

    /// <summary>The presigned PUT: the signed URL is the only credential, so no Authorization header goes with it.</summary>
    public async Task PutToSignedUrlAsync(Uri url, HttpContent content, CancellationToken cancellationToken)
    {
        using var response = await SendRetryingAsync(() => new HttpRequestMessage(HttpMethod.Put, url) { Content = content },
            HttpCompletionOption.ResponseContentRead, cancellationToken);
        if (!response.IsSuccessStatusCode)
            throw ApiException.From(response.StatusCode, response.ReasonPhrase, await response.Content.ReadAsStringAsync(cancellationToken));
    }

    /// <summary>
    /// Sends a request made by <paramref name="request"/> (a message is sent once; its content may be sent again: buffered
    /// content as it is, a seekable file stream from its start); a 429 is sent again after its Retry-After, at most
    /// <see cref="MaxAttempts"/> times in all, and the last answer, whatever it is, goes back to the caller.
    /// </summary>
    private async Task<HttpResponseMessage> SendRetryingAsync(Func<HttpRequestMessage> request, HttpCompletionOption completion,
        CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            // Not disposed: that would dispose the content, which the next attempt sends again (the caller owns it).
            var message = request();
            var response = await _http.SendAsync(message, completion, cancellationToken);
            if (response.StatusCode != HttpStatusCode.TooManyRequests || attempt == MaxAttempts) return response;
            var delay = RetryDelay(response.Headers.RetryAfter);
            var problem = ApiException.From(response.StatusCode, response.ReasonPhrase, await response.Content.ReadAsStringAsync(cancellationToken));
            response.Dispose();
            _notice($"{problem.Message} Retrying in {delay.TotalSeconds:0.#} s (attempt {attempt + 1} of {MaxAttempts}).");
            await Task.Delay(delay, cancellationToken);
        }
    }

    private static TimeSpan RetryDelay(RetryConditionHeaderValue? retryAfter)
    {
        var delay = retryAfter?.Delta ?? (retryAfter?.Date is { } date ? date - DateTimeOffset.UtcNow : DefaultRetryDelay);
        return delay < TimeSpan.Zero ? TimeSpan.Zero : delay > MaxRetryDelay ? MaxRetryDelay : delay;
    }

    public void Dispose() => _http.Dispose();
}
