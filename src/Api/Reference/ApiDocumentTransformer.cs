using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace DatasetPlatform.Api.Reference;

/// <summary>
/// The document as a whole: what it is, its sections (one per surface), the key schemes, and the one public route the
/// generator cannot see (Prometheus' /metrics, mapped as a plain request delegate).
/// </summary>
internal sealed class ApiDocumentTransformer : IOpenApiDocumentTransformer
{
    public Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Info = new OpenApiInfo
        {
            Title = "DatasetPlatform API",
            Version = "v1",
            Description = "Upload tabular data (CSV, gzip, JSON lines, Parquet) into versioned datasets through four surfaces that share one "
                + "data model and one per-dataset import queue: Alphacast, V4 presigned uploads, Data8 blocks and seed-004 versioned datasets.\n\n"
                + "**Keys.** Every route but health, the token exchange and the presigned PUT needs an API key, sent in any of the ways below "
                + "(HTTP Basic with the key as user name, `Bearer`, `Token`, or `?apiKey=`). A key has a role per repository (Read, Write, Admin); "
                + "what a key cannot see answers 404, what it sees but may not change answers 403.\n\n"
                + "**Errors** are RFC 7807 problems (`application/problem+json`) with a stable `type`, a human `detail`, the same text in "
                + "`message` (read by the Alphacast SDK), and for invalid fields an `errors` object keyed by field.\n\n"
                + "**Lists** page with `limit` and `offset`; `X-Total-Count` and `Link: <...>; rel=\"next\"` say what is left, so bodies keep "
                + "each surface's shape.",
        };
        document.Tags = new HashSet<OpenApiTag>(ApiTags.Descriptions.Select(t => new OpenApiTag { Name = t.Name, Description = t.Description }));
        ApiSecuritySchemes.Register(document);
        AddMetrics(document);
        return Task.CompletedTask;
    }

    private static void AddMetrics(OpenApiDocument document)
    {
        var problem = new OpenApiSchemaReference(nameof(Microsoft.AspNetCore.Mvc.ProblemDetails), document);
        OpenApiResponse Problem(string description) => new()
        {
            Description = description,
            Content = new Dictionary<string, OpenApiMediaType> { [ApiOperationTransformer.ProblemContentType] = new() { Schema = problem } },
        };
        document.Paths ??= [];
        document.Paths["/metrics"] = new OpenApiPathItem
        {
            Operations = new Dictionary<HttpMethod, OpenApiOperation>
            {
                [HttpMethod.Get] = new()
                {
                    Summary = "Prometheus metrics (admin keys only)",
                    Description = "Orleans, ASP.NET Core, Kestrel and Npgsql meters, plus `dp_imports_finished` and `dp_rows_loaded`, in the "
                        + "Prometheus text format.",
                    Tags = new HashSet<OpenApiTagReference> { new(ApiTags.Keys, document) },
                    Security = ApiSecuritySchemes.AnyKey(document),
                    Responses = new OpenApiResponses
                    {
                        ["200"] = new OpenApiResponse
                        {
                            Description = "The metrics.",
                            Content = new Dictionary<string, OpenApiMediaType>
                            {
                                ["text/plain"] = new() { Schema = new OpenApiSchema { Type = JsonSchemaType.String } },
                            },
                        },
                        ["401"] = Problem("No API key or access token, or one that is invalid, expired or revoked."),
                        ["403"] = Problem("The key is no admin key."),
                    },
                },
            },
        };
    }
}
