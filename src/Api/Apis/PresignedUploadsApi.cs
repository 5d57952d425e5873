using System.Globalization;
using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Serialization;
using DatasetPlatform.Api.Auth;
using DatasetPlatform.Api.Hosting;
using DatasetPlatform.Grains.Abstractions;
using DatasetPlatform.Grains.Import;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Grains.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using DatasetPlatform.Api.Reference;

namespace DatasetPlatform.Api.Apis;

public sealed record UploadUrlResponse(
    [property: JsonPropertyName("dataset_id")] string DatasetId,
    [property: JsonPropertyName("import_id")] string ImportId,
    [property: JsonPropertyName("upload_url")] string UploadUrl,
    [property: JsonPropertyName("http_method")] string HttpMethod,
    [property: JsonPropertyName("content_type")] string ContentType,
    [property: JsonPropertyName("expires_at")] DateTime ExpiresAt,
    [property: JsonPropertyName("file_key")] string FileKey);

public sealed record ImportErrorResponse(
    [property: JsonPropertyName("record_index")] long RecordIndex,
    [property: JsonPropertyName("field")] string? Field,
    [property: JsonPropertyName("reason")] string Reason);

public sealed record ImportResponse(
    [property: JsonPropertyName("dataset_id")] string DatasetId,
    [property: JsonPropertyName("import_id")] string ImportId,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("filename")] string? FileName,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("created_at")] DateTime CreatedAt,
    [property: JsonPropertyName("updated_at")] DateTime UpdatedAt,
    [property: JsonPropertyName("processing_started_at")] DateTime? ProcessingStartedAt,
    [property: JsonPropertyName("accepted_count")] long AcceptedCount,
    [property: JsonPropertyName("rejected_count")] long RejectedCount,
    [property: JsonPropertyName("errors")] IReadOnlyList<ImportErrorResponse> Errors,
    [property: JsonPropertyName("errors_total")] long ErrorsTotal,
    [property: JsonPropertyName("reason")] string? Reason)
{
    public static ImportResponse From(ImportJobRow job)
    {
        var errors = job.Errors is null ? [] : JsonSerializer.Deserialize<List<ProcessError>>(job.Errors, JsonSerializerOptions.Web) ?? [];
        var finished = job.Status is JobStatus.Complete or JobStatus.Partial or JobStatus.Skipped;
        return new ImportResponse(
            job.DatasetId.ToString(CultureInfo.InvariantCulture), job.Id.ToString(CultureInfo.InvariantCulture), "file_upload", job.FileName,
            job.Status == JobStatus.Skipped ? JobStatus.Complete : job.Status,
            job.CreatedAt, job.UpdatedAt, job.StartedAt,
            finished ? job.RowsRead - job.RowsRejected : 0, job.RowsRejected,
            // record_index counts records from 0, like the lines of the file.
            [.. errors.Select(e => new ImportErrorResponse(e.Row - 1, e.Column, e.Message))],
            job.ErrorCount,
            job.Status is JobStatus.Failed or JobStatus.PendingSchema ? job.StatusDescription : null);
    }
}

public sealed record SchemaResponse(
    [property: JsonPropertyName("dataset_id")] string DatasetId,
    [property: JsonPropertyName("strict")] bool Strict,
    [property: JsonPropertyName("fields")] IReadOnlyDictionary<string, SchemaField> Fields);

public sealed record SchemaField([property: JsonPropertyName("type")] string Type, [property: JsonPropertyName("label")] string? Label);

/// <summary>
/// The V4 presigned flow (seed 002, Prolific AI Task Builder datasets): ask for an upload URL, PUT the file to it
/// without credentials, poll the import. Served at the seed's paths and under /api/v1/data-collection.
/// </summary>
public static class PresignedUploadsApi
{
    public const string UploadTokenPurpose = "upload-url";
    public const string CorsPolicy = "presigned-upload";
    private static readonly TimeSpan UrlLifetime = TimeSpan.FromHours(1);

    public static IEndpointRouteBuilder MapPresignedUploadsApi(this IEndpointRouteBuilder app)
    {
        foreach (var prefix in (string[])["", "/api/v1/data-collection"])
        {
            var group = app.MapGroup(prefix + "/datasets/{id:long}").WithTags(ApiTags.Presigned);
            // A GET that creates an import: guarded like a POST against other sites.
            group.MapGet("/upload-url/{filename}", CreateUploadUrl).WithMetadata(CrossSiteRequests.Guard)
                .WithSummary("Makes a signed, single-use upload URL valid for one hour, and the import that waits for its file")
                .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound);
            group.MapGet("/imports", ListImports).Paged().WithSummary("The dataset's imports, oldest first, as a bare array")
                .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
            group.MapGet("/imports/{importId:long}", GetImport)
                .WithSummary("One import: queued, processing, complete, partial (with per-record errors), failed or pending_schema")
                .ProducesProblems(StatusCodes.Status404NotFound);
            group.MapPut("/schema", PutSchema).DisableAntiforgery().WithBody(RequestBodies.V4Schema)
                .WithSummary("Sets the dataset's schema; applies after the uploads sent before it")
                .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound,
                    StatusCodes.Status409Conflict, StatusCodes.Status503ServiceUnavailable);
        }
        app.MapGet("/api/v1/data-collection/datasets/{id:long}", DatasetsApi.Get).WithTags(ApiTags.Presigned).WithSummary("Gets a dataset")
            .ProducesProblems(StatusCodes.Status404NotFound);
        // No ambient credential is involved (no key, no cookie), so a browser application may PUT the file from any origin.
        app.MapPut("/uploads/{token}", ReceiveUpload).WithTags(ApiTags.Presigned).AllowAnonymous().DisableAntiforgery()
            .WithMetadata(CrossSiteRequests.Allow).RequireCors(CorsPolicy).RequireUploadSlot().WithBody(RequestBodies.PresignedFile).WithSuccessHeader("ETag")
            .WithSummary("The presigned PUT: sends the file to an upload URL; the URL is the credential")
            .WithDescription("The single use is taken when the PUT starts: a second PUT while one streams gets 409 at once and stores nothing; "
                + "a PUT that fails midway gives the use back, so the URL can be retried until it expires. Any origin may send it (CORS).")
            .ProducesProblems(StatusCodes.Status403Forbidden, StatusCodes.Status409Conflict);
        return app;
    }

    public static async Task<Results<Created<UploadUrlResponse>, ProblemHttpResult>> CreateUploadUrl(long id, string filename, HttpRequest request,
        ClaimsPrincipal user, DatasetAccess access, JobStore jobs, SignedTokens tokens)
    {
        var caller = Caller.From(user);
        var (dataset, _, problem) = await access.ResolveAsync(id, caller, RepositoryRole.Write);
        if (problem is not null) return problem;
        if (dataset!.IsBlocks) return Problems.BadRequest($"Dataset {id} is a block (input) dataset; upload records with PATCH /Dataset/{{name}}/data.");
        var name = Path.GetFileName(filename.Trim());
        if (name.Length == 0 || name.Length > 255) return Problems.BadRequest("The file name must be 1 to 255 characters.");

        var (format, contentType) = UploadFormats.FromFileName(name);
        var expiresAt = DateTime.UtcNow.Add(UrlLifetime);
        var job = await jobs.CreateAwaitingFileAsync(id, name, format, expiresAt, caller.KeyId);
        var token = await tokens.SignAsync(UploadTokenPurpose,
            $"{job.Id}:{new DateTimeOffset(expiresAt).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)}");
        var url = $"{request.Scheme}://{request.Host}{request.PathBase}/uploads/{token}";
        return TypedResults.Created($"/datasets/{id}/imports/{job.Id}",
            new UploadUrlResponse(id.ToString(CultureInfo.InvariantCulture), job.Id.ToString(CultureInfo.InvariantCulture), url, "PUT", contentType,
                expiresAt, $"datasets/{id}/imports/{job.Id}/{name}"));
    }

    /// <summary>
    /// The presigned PUT: the token in the URL is the only credential. It must be ours and unexpired, and its import must
    /// still be waiting for a file; anything else is a 403 and nothing is kept. The URL's single use is taken when the PUT
    /// starts, so a second PUT while one streams is a 409 at once; if the upload fails (client gone, too large), the use
    /// is given back and the URL can be retried until it expires. The body streams into staging.
    /// </summary>
    public static async Task<Results<Ok, ProblemHttpResult>> ReceiveUpload(string token, HttpContext context, SignedTokens tokens, JobStore jobs,
        IGrainFactory grains, ILoggerFactory loggers, IOptions<PlatformOptions> options, CancellationToken cancellationToken)
    {
        var payload = await tokens.VerifyAsync(UploadTokenPurpose, token);
        var parts = payload?.Split(':');
        if (parts is not [var jobText, var expiresText] || !long.TryParse(jobText, out var jobId) || !long.TryParse(expiresText, out var expires))
            return Problems.Forbidden("The upload URL is not valid (its signature does not match).");
        if (DateTimeOffset.UtcNow.ToUnixTimeSeconds() > expires) return Problems.Forbidden("The upload URL has expired; request a new one.");
        var claim = await jobs.ClaimPresignedUploadAsync(jobId, cancellationToken);
        switch (claim.Outcome)
        {
            case PresignedClaimOutcome.Gone: return Problems.Forbidden("The upload URL refers to an import that no longer exists.");
            case PresignedClaimOutcome.AlreadyUsed: return Problems.Forbidden("The upload URL has already been used; request a new one.");
            case PresignedClaimOutcome.InProgress:
                return Problems.Conflict("An upload to this URL is already in progress; it can be retried only if that upload fails.");
        }
        UploadLimit.Apply(context, options.Value.MaxUploadBytes);

        await using var session = await jobs.BeginUploadAsync(cancellationToken);
        StagedFile staged;
        try { staged = await session.StageClaimedAsync(claim.FileId!.Value, claim.FileName, context.Request.Body, options.Value.MaxUploadBytes, cancellationToken); }
        catch (UploadTooLargeException e) { return Problems.TooLarge(e.Message); }
        if (!await session.CommitAwaitedFileAsync(jobId, staged, cancellationToken))
            return Problems.Forbidden("The upload URL has already been used; request a new one.");

        await Enqueue.NotifyAsync(grains, claim.DatasetId, jobId, loggers);
        context.Response.Headers.ETag = $"\"{Convert.ToHexStringLower(staged.Sha256)}\"";
        return TypedResults.Ok();
    }

    /// <summary>The dataset's imports, oldest first, as a bare array paged with ?limit&amp;offset (X-Total-Count, Link).</summary>
    public static async Task<Results<Ok<List<ImportResponse>>, ProblemHttpResult>> ListImports(long id, HttpContext context, ClaimsPrincipal user,
        DatasetAccess access, JobStore jobs, IOptions<PlatformOptions> options)
    {
        var (_, _, problem) = await access.ResolveAsync(id, Caller.From(user), RepositoryRole.Read);
        if (problem is not null) return problem;
        if (!ListPage.TryParse(context.Request, options.Value, out var page, out problem)) return problem!;
        var (rows, total) = await jobs.ListAsync(id, page.Limit, page.Offset);
        page.WriteHeaders(context.Response, total);
        return TypedResults.Ok(rows.Select(ImportResponse.From).ToList());
    }

    public static async Task<Results<Ok<ImportResponse>, ProblemHttpResult>> GetImport(long id, long importId, ClaimsPrincipal user, DatasetAccess access,
        JobStore jobs)
    {
        var (_, _, problem) = await access.ResolveAsync(id, Caller.From(user), RepositoryRole.Read);
        if (problem is not null) return problem;
        var job = await jobs.GetAsync(importId);
        if (job is null || job.DatasetId != id) return Problems.NotFound($"Import {importId} does not exist in dataset {id}.");
        return TypedResults.Ok(ImportResponse.From(job));
    }

    /// <summary>Sets the dataset's schema: the manifest array of the Alphacast surface, or {strict, fields: {name: {type, label}}}.</summary>
    public static async Task<Results<Ok<SchemaResponse>, ProblemHttpResult>> PutSchema(long id, HttpRequest request, ClaimsPrincipal user,
        DatasetAccess access, IGrainFactory grains, CancellationToken cancellationToken)
    {
        var (dataset, _, problem) = await access.ResolveAsync(id, Caller.From(user), RepositoryRole.Write);
        if (problem is not null) return problem;
        if (dataset!.ManifestLocked) return Problems.Conflict("The dataset's schema (manifest) is locked; unlock it before replacing it.");
        if (dataset.IsBlocks && dataset.CurrentVersion is not null)
            return Problems.Conflict("This block dataset already holds records; its columns can no longer change.");
        var fields = await RequestFields.ReadAsync(request);
        if (fields.RawJson is not { } body) return Problems.BadRequest("Send the schema as JSON.");
        IReadOnlyList<ManifestEntry> entries;
        bool strict;
        try
        {
            (entries, strict) = body.ValueKind == JsonValueKind.Array ? (Manifest.Parse(body.GetRawText()), false) : Manifest.ParseV4(body);
        }
        catch (ManifestException e)
        {
            return Problems.BadRequest(e.Message, new Dictionary<string, string[]> { ["schema"] = [e.Message] });
        }
        // Applied after the uploads sent before it (and checked again then: the dataset may have changed meanwhile).
        var change = new ManifestChange(Manifest.ToJson(entries), Strict: strict);
        var outcome = await GrainCalls.ChangeAsync(grains, id, grain => grain.ChangeManifest(change), cancellationToken);
        if (Problems.ForChange(outcome, id.ToString(CultureInfo.InvariantCulture)) is { } refused) return refused;
        return TypedResults.Ok(new SchemaResponse(id.ToString(CultureInfo.InvariantCulture), strict,
            entries.ToDictionary(e => e.SourceName, e => new SchemaField(e.Dtype, e.Label))));
    }
}
