using DatasetPlatform.Grains.Abstractions;
using Microsoft.AspNetCore.Http.HttpResults;

namespace DatasetPlatform.Api.Apis;

/// <summary>
/// RFC 7807 error bodies with a stable type per kind of error. Each also carries `message` (the same text as
/// `detail`) because the Alphacast SDK reports `message` to its users.
/// </summary>
public static class Problems
{
    private const string TypeBase = "https://datasetplatform.dev/problems/";

    public static ProblemHttpResult BadRequest(string detail, IDictionary<string, string[]>? errors = null) =>
        Create(StatusCodes.Status400BadRequest, "Bad request", "bad-request", detail, errors);
    public static ProblemHttpResult NotFound(string detail) => Create(StatusCodes.Status404NotFound, "Not found", "not-found", detail);
    public static ProblemHttpResult Forbidden(string detail) => Create(StatusCodes.Status403Forbidden, "Forbidden", "forbidden", detail);
    public static ProblemHttpResult Conflict(string detail) => Create(StatusCodes.Status409Conflict, "Conflict", "conflict", detail);
    public static ProblemHttpResult TooLarge(string detail) => Create(StatusCodes.Status413PayloadTooLarge, "Payload too large", "too-large", detail);
    /// <summary>A grain call that could not be completed in time; the exception handler adds Retry-After.</summary>
    public static ProblemHttpResult ClusterUnavailable(string detail) =>
        Create(StatusCodes.Status503ServiceUnavailable, "Service unavailable", "cluster-unavailable", detail);

    /// <summary>The problem for a dataset change its grain refused (null when it applied); <paramref name="dataset"/> names it as the request did.</summary>
    public static ProblemHttpResult? ForChange(DatasetChangeOutcome outcome, string dataset) => outcome switch
    {
        DatasetChangeOutcome.Applied => null,
        DatasetChangeOutcome.NotFound => NotFound($"Dataset {dataset} does not exist or is not accessible to this key."),
        DatasetChangeOutcome.ColumnsFixed => Conflict("This block dataset already holds records; its columns can no longer change."),
        DatasetChangeOutcome.ManifestLocked => Conflict("The manifest is locked; unlock it (locked=false) before replacing it."),
        DatasetChangeOutcome.CannotReopen => BadRequest("A completed dataset cannot be reopened."),
        DatasetChangeOutcome.NameTaken => Conflict($"A dataset named '{dataset}' already exists in this repository."),
        _ => throw new ClusterUnavailableException($"The change to dataset {dataset} ended as {outcome}; send it again."),
    };

    public static ProblemHttpResult Create(int status, string title, string type, string detail, IDictionary<string, string[]>? errors = null)
    {
        var extensions = new Dictionary<string, object?> { ["message"] = detail };
        if (errors is not null) extensions["errors"] = errors;
        return TypedResults.Problem(detail, statusCode: status, title: title, type: TypeBase + type, extensions: extensions);
    }
}
