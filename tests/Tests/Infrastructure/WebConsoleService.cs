using System.Text;

namespace DatasetPlatform.Tests.Infrastructure;

/// <summary>
/// The real service binary on a real HTTP port (a browser cannot reach the in-memory test server), with its own database,
/// for the web console's browser tests. Lists page by <see cref="PageSize"/> items, so that a test reaches past the first page
/// of the console's lists with a handful of datasets.
/// </summary>
public sealed class WebConsoleService() : ServiceFixture("console", new Dictionary<string, string> { ["DP_PAGE_SIZE"] = PageSize.ToString() })
{
    public const int PageSize = 5;

    public string BaseUrl => Url;

    /// <summary>An Alphacast-style client (Basic, key as user name) of this service.</summary>
    public ApiClient Client(string? key = null) => Service.Client(key);

    /// <summary>A client with no credentials, or with <paramref name="bearer"/> as the console sends it.</summary>
    public HttpClient Http(string? bearer = null) => Service.Http(bearer);

    /// <summary>A CSV file on disk for the browser's file input; deleted with the service's working directory.</summary>
    public string WriteFile(string name, string content)
    {
        var path = Path.Combine(Service.WorkDirectory, "uploads", name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content, new UTF8Encoding(false));
        return path;
    }
}
