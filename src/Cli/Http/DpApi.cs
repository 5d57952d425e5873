using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using DatasetPlatform.Cli.Config;

namespace DatasetPlatform.Cli.Http;

/// <summary>
/// The HTTP client of the CLI: the gateway's public API only. Errors come back as <see cref="ApiException"/> with the
/// ProblemDetails read; bodies of uploads and downloads stream through, never held whole.
/// </summary>
internal sealed class DpApi : IDisposable
{
    // Small JSON calls only; uploads and downloads take as long as their bytes need, bounded by the caller's token.
    private static readonly TimeSpan JsonCallTimeout = TimeSpan.FromSeconds(100);

    private readonly HttpClient _http;
    private readonly string _key;

    public DpApi(Connection connection, HttpMessageHandler? handler = null)
    {
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
        using var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.Authorization = Credentials(surface);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token);
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
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = Credentials(surface);
        var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (response.IsSuccessStatusCode) return response;
        using (response)
        {
            throw ApiException.From(response.StatusCode, response.ReasonPhrase, await response.Content.ReadAsStringAsync(cancellationToken));
        }
    }

    /// <summary>The presigned PUT: the signed URL is the only credential, so no Authorization header goes with it.</summary>
    public async Task PutToSignedUrlAsync(Uri url, HttpContent content, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, url) { Content = content };
        using var response = await _http.SendAsync(request, cancellationToken);
        if (!response.IsSuccessStatusCode)
            throw ApiException.From(response.StatusCode, response.ReasonPhrase, await response.Content.ReadAsStringAsync(cancellationToken));
    }

    public void Dispose() => _http.Dispose();
}
