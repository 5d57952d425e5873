using Microsoft.OpenApi;

namespace DatasetPlatform.Api.Reference;

/// <summary>
/// A request body as the reference shows it. The handlers read their bodies themselves (uploads stream section by section,
/// create calls take JSON or form fields alike), so the generator cannot see them; the endpoint says what it takes.
/// </summary>
/// <param name="Contents">Each accepted content type, with the shape of its fields (null: raw bytes) and an example (JSON).</param>
/// <param name="Kind">How the body is read, which decides the errors reading it can give.</param>
public sealed record RequestBodyDoc(string Description, IReadOnlyList<RequestBodyContent> Contents, BodyKind Kind);

public sealed record RequestBodyContent(string ContentType, Type? Shape, string? Example = null);

public enum BodyKind
{
    /// <summary>Small JSON or form fields read whole (RequestFields): 400 when malformed, 413 past 1 MiB.</summary>
    Fields,
    /// <summary>A streamed upload (multipart or raw): bounded by MAX_DATASET_UPLOAD_BYTES.</summary>
    Upload,
    /// <summary>A Data8 block: bounded by MAX_BLOCK_BODY_BYTES before it is buffered.</summary>
    Block,
}

/// <summary>A query parameter the handler reads from the request itself rather than from its signature.</summary>
public sealed record QueryParameterDoc(string Name, string Description, JsonSchemaType Type);

/// <summary>A list paged with ?limit&amp;offset (<see cref="Apis.ListPage"/>); null bounds are the gateway's (DP_PAGE_SIZE, DP_MAX_PAGE_SIZE).</summary>
public sealed record PagedListDoc(int? DefaultLimit, int? MaxLimit);

/// <summary>A successful response streamed as a file (CSV, TSV, JSON lines, XLSX) rather than a typed JSON body.</summary>
public sealed record FileResponseDoc(string Description, IReadOnlyList<string> ContentTypes, IReadOnlyList<string> Headers);

/// <summary>A header the successful response carries (ETag of a stored upload).</summary>
public sealed record SuccessHeaderDoc(string Name);

/// <summary>Endpoint metadata read by <see cref="ApiOperationTransformer"/>.</summary>
public static class EndpointDocs
{
    /// <summary>Documents the error statuses the handler itself answers (each an RFC 7807 problem); the ones every route of a kind shares are added by the transformer.</summary>
    public static RouteHandlerBuilder ProducesProblems(this RouteHandlerBuilder endpoint, params int[] statuses)
    {
        foreach (var status in statuses) endpoint.ProducesProblem(status);
        return endpoint;
    }

    public static RouteHandlerBuilder WithBody(this RouteHandlerBuilder endpoint, RequestBodyDoc body) => endpoint.WithMetadata(body);

    public static RouteHandlerBuilder WithQueryParameter(this RouteHandlerBuilder endpoint, string name, string description,
        JsonSchemaType type = JsonSchemaType.String) => endpoint.WithMetadata(new QueryParameterDoc(name, description, type));

    public static RouteHandlerBuilder Paged(this RouteHandlerBuilder endpoint, int? defaultLimit = null, int? maxLimit = null) =>
        endpoint.WithMetadata(new PagedListDoc(defaultLimit, maxLimit));

    public static RouteHandlerBuilder WithSuccessHeader(this RouteHandlerBuilder endpoint, string name) => endpoint.WithMetadata(new SuccessHeaderDoc(name));

    public static RouteHandlerBuilder ProducesFile(this RouteHandlerBuilder endpoint, string description, string[] contentTypes, params string[] headers) =>
        endpoint.WithMetadata(new FileResponseDoc(description, contentTypes, headers));
}
