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

    public static ProblemHttpResult Create(int status, string title, string type, string detail, IDictionary<string, string[]>? errors = null)
    {
        var extensions = new Dictionary<string, object?> { ["message"] = detail };
        if (errors is not null) extensions["errors"] = errors;
        return TypedResults.Problem(detail, statusCode: status, title: title, type: TypeBase + type, extensions: extensions);
    }
}
