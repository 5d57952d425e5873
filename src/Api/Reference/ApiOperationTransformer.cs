using System.Text.Json.Nodes;
using DatasetPlatform.Api.Auth;
using DatasetPlatform.Api.Hosting;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.OpenApi;

namespace DatasetPlatform.Api.Reference;

/// <summary>
/// Completes each operation from its endpoint's metadata, so that handlers do not repeat what a kind of route shares: the
/// security (any of the key schemes, unless the endpoint allows anonymous callers), the request body the handler reads
/// itself, paging parameters, streamed file responses, and the problems every route of a kind can answer (401 without a
/// key, 403 for a browser's cross-site request, 400/413 for a body, 408/413/429 for an upload, 429 for a download).
/// Every error response is an RFC 7807 problem (application/problem+json) with a description and an example.
/// </summary>
internal sealed class ApiOperationTransformer : IOpenApiOperationTransformer
{
    public const string ProblemContentType = "application/problem+json";

    public async Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        var method = context.Description.HttpMethod ?? "GET";
        var path = "/" + (context.Description.RelativePath ?? "").TrimEnd('/');
        operation.Parameters ??= [];
        operation.Responses ??= [];
        var problems = new SortedSet<int>();

        var anonymous = metadata.OfType<IAllowAnonymous>().Any();
        if (anonymous)
        {
            operation.Security = null;
            operation.Description = Join(operation.Description, path.StartsWith("/uploads/", StringComparison.Ordinal)
                ? "No credentials: the signed token in the URL is the credential."
                : "No credentials needed.");
        }
        else
        {
            operation.Security = ApiSecuritySchemes.AnyKey(context.Document!);
            problems.Add(StatusCodes.Status401Unauthorized);
        }

        var crossSite = metadata.OfType<CrossSiteRequests>().LastOrDefault();
        var changesState = method is not ("GET" or "HEAD" or "OPTIONS") || crossSite == CrossSiteRequests.Guard;
        if (changesState && crossSite != CrossSiteRequests.Allow) problems.Add(StatusCodes.Status403Forbidden);

        if (metadata.OfType<RequestBodyDoc>().LastOrDefault() is { } body)
        {
            operation.RequestBody = await RequestBodyAsync(body, context, cancellationToken);
            problems.UnionWith([StatusCodes.Status400BadRequest, StatusCodes.Status413PayloadTooLarge]);
        }
        switch (metadata.OfType<EnableRateLimitingAttribute>().LastOrDefault()?.PolicyName)
        {
            case UploadConcurrency.Policy:
                problems.UnionWith([StatusCodes.Status408RequestTimeout, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status429TooManyRequests]);
                break;
            case UploadConcurrency.DownloadPolicy:
                problems.Add(StatusCodes.Status429TooManyRequests);
                break;
        }

        foreach (var query in metadata.OfType<QueryParameterDoc>())
            AddParameter(operation, query.Name, ParameterLocation.Query, query.Description, new OpenApiSchema { Type = query.Type });
        if (metadata.OfType<PagedListDoc>().LastOrDefault() is { } paged) AddPaging(operation, paged);
        if (metadata.OfType<FileResponseDoc>().LastOrDefault() is { } file) SetFileResponse(operation, file);
        foreach (var header in metadata.OfType<SuccessHeaderDoc>()) AddSuccessHeader(operation, header.Name);
        DescribeParameters(operation, path);

        var problemSchema = await ProblemSchemaAsync(context, cancellationToken);
        foreach (var status in problems)
        {
            if (!operation.Responses.ContainsKey(status.ToString(System.Globalization.CultureInfo.InvariantCulture)))
                operation.Responses[status.ToString(System.Globalization.CultureInfo.InvariantCulture)] = new OpenApiResponse();
        }
        foreach (var (code, response) in operation.Responses)
        {
            if (!int.TryParse(code, out var status) || status < 400 || response is not OpenApiResponse concrete) continue;
            DescribeProblem(concrete, status, problemSchema, ProblemText(path, status, anonymous));
        }
    }

    /// <summary>A reference to the one ProblemDetails schema of the document (added to its components if no endpoint brought it yet).</summary>
    private static async Task<IOpenApiSchema> ProblemSchemaAsync(OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var document = context.Document!;
        const string id = nameof(ProblemDetails);
        if (document.Components?.Schemas?.ContainsKey(id) != true)
        {
            var schema = await context.GetOrCreateSchemaAsync(typeof(ProblemDetails), null, cancellationToken);
            if (schema is OpenApiSchema concrete) document.AddComponent(id, concrete);
        }
        return new OpenApiSchemaReference(id, document);
    }

    private static async Task<OpenApiRequestBody> RequestBodyAsync(RequestBodyDoc body, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var content = new Dictionary<string, OpenApiMediaType>();
        foreach (var part in body.Contents)
        {
            var schema = part.Shape is null
                ? new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" }
                : await context.GetOrCreateSchemaAsync(part.Shape, null, cancellationToken);
            JsonNode? example = part.Example is null ? null
                : part.Shape is null ? JsonValue.Create(part.Example)
                : JsonNode.Parse(part.Example);
            content[part.ContentType] = new OpenApiMediaType { Schema = schema, Example = example };
        }
        return new OpenApiRequestBody { Description = body.Description, Required = true, Content = content };
    }

    private static void AddPaging(OpenApiOperation operation, PagedListDoc paged)
    {
        var limits = paged.DefaultLimit is { } d && paged.MaxLimit is { } m
            ? $"Default {d}, at most {m}."
            : "Default DP_PAGE_SIZE (1000), at most DP_MAX_PAGE_SIZE (5000).";
        AddParameter(operation, "limit", ParameterLocation.Query, $"Items per page. {limits} Anything else is a 400.",
            new OpenApiSchema { Type = JsonSchemaType.Integer, Minimum = "1" });
        AddParameter(operation, "offset", ParameterLocation.Query, "Items to skip (default 0).", new OpenApiSchema { Type = JsonSchemaType.Integer, Minimum = "0" });
        if (operation.Responses!.TryGetValue("200", out var ok) && ok is OpenApiResponse response)
        {
            response.Headers ??= new Dictionary<string, IOpenApiHeader>();
            response.Headers["X-Total-Count"] = new OpenApiHeader
            {
                Description = "How many items there are in all.", Schema = new OpenApiSchema { Type = JsonSchemaType.Integer },
            };
            response.Headers["Link"] = new OpenApiHeader
            {
                Description = "`<url>; rel=\"next\"`: the next page, while items remain.", Schema = new OpenApiSchema { Type = JsonSchemaType.String },
            };
        }
    }

    private static void SetFileResponse(OpenApiOperation operation, FileResponseDoc file)
    {
        var response = new OpenApiResponse
        {
            Description = file.Description,
            Content = file.ContentTypes.ToDictionary(type => type, _ => new OpenApiMediaType
            {
                Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" },
            }),
            Headers = file.Headers.ToDictionary(header => header, header => (IOpenApiHeader)new OpenApiHeader
            {
                Description = HeaderDescriptions.GetValueOrDefault(header, header),
                Schema = new OpenApiSchema { Type = JsonSchemaType.String },
            }),
        };
        operation.Responses!.Remove("200");
        operation.Responses["200"] = response;
    }

    private static void AddSuccessHeader(OpenApiOperation operation, string name)
    {
        foreach (var response in operation.Responses!.Where(r => r.Key.StartsWith('2')).Select(r => r.Value).OfType<OpenApiResponse>())
        {
            response.Headers ??= new Dictionary<string, IOpenApiHeader>();
            response.Headers[name] = new OpenApiHeader
            {
                Description = HeaderDescriptions.GetValueOrDefault(name, name), Schema = new OpenApiSchema { Type = JsonSchemaType.String },
            };
        }
    }

    private static readonly Dictionary<string, string> HeaderDescriptions = new()
    {
        ["Content-Disposition"] = "attachment; filename=\"...\"",
        ["Row-Count"] = "With $top: how many rows the filter matches in all.",
        ["ETag"] = "The SHA-256 of the stored file, in hex, quoted.",
    };

    private static void AddParameter(OpenApiOperation operation, string name, ParameterLocation location, string description, OpenApiSchema schema)
    {
        if (operation.Parameters!.Any(p => p.Name == name && p.In == location)) return;
        operation.Parameters!.Add(new OpenApiParameter { Name = name, In = location, Description = description, Schema = schema });
    }

    /// <summary>Path and query parameters named in handler signatures, described once here.</summary>
    private static void DescribeParameters(OpenApiOperation operation, string path)
    {
        var seed004 = path.StartsWith("/api/datasets", StringComparison.Ordinal);
        foreach (var parameter in operation.Parameters!.OfType<OpenApiParameter>())
        {
            if (!string.IsNullOrEmpty(parameter.Description)) continue;
            parameter.Description = parameter.Name switch
            {
                "id" when path.StartsWith("/repositories", StringComparison.Ordinal) => "The repository's numeric id.",
                "id" when seed004 => "The dataset: its uuid (`dataset_id` of the upload answer) or its numeric id.",
                "id" => "The dataset's numeric id.",
                "processId" => "The process id (the `id` of the upload's 201 answer).",
                "importId" => "The import id (`import_id` of the upload-url answer).",
                "keyId" => "The key's id (the part of the key between `dp_` and the next `_`).",
                "filename" => "The file's name; its extension sets the format (.jsonl/.ndjson: JSON lines, .csv, optionally .gz).",
                "token" => "The signed upload token, as it appears in `upload_url`.",
                "name" => "The dataset's name.",
                "versionId" => "The version's uuid (`dataset_version_id`).",
                "repositoryId" => "Only the datasets of this repository.",
                "$format" => "csv (default), tsv, json (JSON lines) or xlsx (limited by MAX_XLSX_ROWS and MAX_XLSX_CELLS).",
                "$filter" => "OData-style filter, e.g. `Country eq 'USA' and Date ge 2021-01-01` (eq, ne, gt, ge, lt, le, and, or, not, parentheses).",
                "$select" => "Comma-separated column names.",
                "$top" => "At most this many rows (the Row-Count header then says how many match).",
                "$skip" => "Skip this many rows.",
                "$last" => "Only the last N rows.",
                "version" => "A version number (0, 1, ...); default the latest.",
                "format" => "csv (default) or xlsx.",
                "project_id" => "Only the datasets of this project (repository id or uid).",
                "search" when path.StartsWith("/repositories", StringComparison.Ordinal) =>
                    "Only repositories whose name or description contains this (any case); X-Total-Count counts them.",
                "search" => "Only datasets whose name or description contains this (any case).",
                "sort_field" => "created_at (default), name, rows, columns or project_name.",
                "sort_direction" => "asc or desc (default).",
                "v1" => "The first version number.",
                "v2" => "The second version number.",
                _ => null,
            };
        }
    }

    /// <summary>The generic text of a status, or what it means on a route that takes no key.</summary>
    private static (string Title, string Type, string Text) ProblemText(string path, int status, bool anonymous) => (status, anonymous) switch
    {
        (StatusCodes.Status403Forbidden, true) when path.StartsWith("/uploads/", StringComparison.Ordinal) => ("Forbidden", "forbidden",
            "The upload URL is not valid (its signature does not match), has expired, or was used already; ask for a new one. Nothing was stored."),
        (StatusCodes.Status403Forbidden, true) => ("Cross-site request refused", "cross-site-request",
            "A browser sent this request from another site's page."),
        (StatusCodes.Status409Conflict, true) => ("Conflict", "conflict",
            "An upload to this URL is in progress; the URL can be retried only if that upload fails."),
        _ => ProblemTexts.GetValueOrDefault(status, ("Error", "error", "The request failed.")),
    };

    private static void DescribeProblem(OpenApiResponse response, int status, IOpenApiSchema problemSchema, (string Title, string Type, string Text) problem)
    {
        var (title, type, text) = problem;
        if (string.IsNullOrEmpty(response.Description) || response.Description == ReasonPhrase(status)) response.Description = text;
        response.Content ??= new Dictionary<string, OpenApiMediaType>();
        response.Content.Remove("application/json");
        response.Content[ProblemContentType] = new OpenApiMediaType
        {
            Schema = problemSchema,
            Example = new JsonObject
            {
                ["type"] = "https://datasetplatform.dev/problems/" + type,
                ["title"] = title,
                ["status"] = status,
                ["detail"] = text,
                ["message"] = text,
            },
        };
        if (status is StatusCodes.Status429TooManyRequests or StatusCodes.Status503ServiceUnavailable)
        {
            response.Headers ??= new Dictionary<string, IOpenApiHeader>();
            response.Headers["Retry-After"] = new OpenApiHeader
            {
                Description = "Seconds to wait before trying again.", Schema = new OpenApiSchema { Type = JsonSchemaType.Integer },
            };
        }
    }

    private static string ReasonPhrase(int status) => Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status);

    private static readonly Dictionary<int, (string Title, string Type, string Text)> ProblemTexts = new()
    {
        [400] = ("Bad request", "bad-request", "The request is malformed or a value is invalid; `errors` names the fields at fault."),
        [401] = ("Unauthorized", "unauthorized", "No API key or access token, or one that is invalid, expired or revoked."),
        [403] = ("Forbidden", "forbidden", "The key may see this but lacks the role it needs (or is no admin key); or a browser sent this "
            + "state-changing request from another site (type cross-site-request)."),
        [404] = ("Not found", "not-found", "It does not exist, or is not visible to this key (private things of others read as absent)."),
        [408] = ("Request timeout", "bad-request", "The upload sent no data for DP_UPLOAD_IDLE_SECONDS and was cut off; nothing was stored."),
        [409] = ("Conflict", "conflict", "The name is taken, the manifest is locked, the dataset's columns are fixed, or the upload is in progress."),
        [413] = ("Payload too large", "too-large", "The body is larger than its limit (MAX_DATASET_UPLOAD_BYTES for uploads, MAX_BLOCK_BODY_BYTES "
            + "for blocks, 1 MiB for JSON or form fields); nothing was stored."),
        [422] = ("The file could not be imported", "import-failed", "The import failed: the detail names the row and column (or the limit) at fault. "
            + "A first upload that fails leaves no dataset behind."),
        [429] = ("Too many uploads", "too-many-uploads", "This gateway is receiving (or sending) its limit of concurrent uploads (downloads); "
            + "retry after Retry-After seconds."),
        [503] = ("Service unavailable", "cluster-unavailable", "The cluster did not answer in time, or a read ran past its time limit, or the "
            + "import is still running; retry after Retry-After seconds where given."),
    };

    private static string Join(string? first, string second) => string.IsNullOrEmpty(first) ? second : first + "\n\n" + second;
}
