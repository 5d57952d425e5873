using System.Security.Claims;
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

/// <summary>
/// PUT /datasets/{id}/data (Alphacast): the multipart body is read section by section and the file streams
/// straight into staging; the 201 goes out only after the staged file and its job have committed.
/// </summary>
public static class UploadsApi
{
    private static readonly string[] FileFields = ["data", "file"];

    public static IEndpointRouteBuilder MapUploadsApi(this IEndpointRouteBuilder app)
    {
        app.MapPut("/datasets/{id:long}/data", Upload).WithTags(ApiTags.Alphacast).DisableAntiforgery().RequireUploadSlot()
            .WithBody(RequestBodies.AlphacastUpload)
            .WithSummary("Uploads a CSV or CSV.gz file (multipart: data, manifest); answers 201 with the queued process")
            .WithDescription("The import runs after every upload to the dataset sent before it; poll GET /datasets/{id}/processes/{processId}. "
                + "A bad file fails its process with the row and column at fault and leaves the dataset as it was.")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict)
            .WithQueryParameter("deleteMissingFromDB", "Delete the rows (keys) of the dataset that the file does not hold (ignored when the manifest is locked).",
                Microsoft.OpenApi.JsonSchemaType.Boolean)
            .WithQueryParameter("onConflictUpdateDB", "Update the rows whose key exists already; without it they keep their stored values.",
                Microsoft.OpenApi.JsonSchemaType.Boolean)
            .WithQueryParameter("acceptNewColumns", "Add columns the dataset does not have yet (ignored when the manifest is locked).",
                Microsoft.OpenApi.JsonSchemaType.Boolean);
        return app;
    }

    public static async Task<Results<Created<ProcessResponse>, ProblemHttpResult>> Upload(long id, HttpRequest request, ClaimsPrincipal user,
        DatasetAccess access, JobStore jobs, IGrainFactory grains, ILoggerFactory loggers, IOptions<PlatformOptions> options, CancellationToken cancellationToken)
    {
        var caller = Caller.From(user);
        var (dataset, _, problem) = await access.ResolveAsync(id, caller, RepositoryRole.Write);
        if (problem is not null) return problem;
        if (dataset!.IsBlocks) return Problems.BadRequest($"Dataset {id} is a block (input) dataset; upload records with PATCH /Dataset/{{name}}/data.");
        UploadLimit.Apply(request.HttpContext, options.Value.MaxUploadBytes);

        var flags = new Dictionary<string, bool>();
        foreach (var name in (string[])["deleteMissingFromDB", "onConflictUpdateDB", "acceptNewColumns"])
        {
            if (!QueryFlags.TryRead(request.Query, name, out var value, out var error))
                return Problems.BadRequest(error!, new Dictionary<string, string[]> { [name] = [error!] });
            flags[name] = value;
        }
        // A locked manifest forces the flags that could change the dataset's shape or drop rows.
        var locked = dataset.ManifestLocked;

        await using var session = await jobs.BeginUploadAsync(cancellationToken);
        MultipartUpload.Parts upload;
        try
        {
            upload = await MultipartUpload.ReadAsync(request, FileFields,
                (fileName, body, _) => session.StageAsync(id, fileName, body, options.Value.MaxUploadBytes, cancellationToken), cancellationToken);
        }
        catch (UploadRejectedException e) { return e.Problem; }
        if (upload.File is not { } staged)
            return Problems.BadRequest("The upload has no file: send it in the form field 'data'.", new Dictionary<string, string[]> { ["data"] = ["Required."] });
        var manifestText = upload.Fields.GetValueOrDefault("manifest");

        string? manifestJson = null;
        if (!string.IsNullOrWhiteSpace(manifestText))
        {
            try { manifestJson = Manifest.ToJson(Manifest.Parse(manifestText)); }
            catch (ManifestException e) { return Problems.BadRequest(e.Message, new Dictionary<string, string[]> { ["manifest"] = [e.Message] }); }
        }

        var job = await session.CommitJobAsync(new ImportRequest(
            id, "multipart", staged.FileName,
            DeleteMissing: flags["deleteMissingFromDB"] && !locked,
            OnConflictUpdate: flags["onConflictUpdateDB"],
            AcceptNewColumns: flags["acceptNewColumns"] && !locked,
            ManifestJson: manifestJson,
            CreatedBy: caller.KeyId,
            Format: UploadFormats.FromFileName(staged.FileName).Format), staged, cancellationToken);

        // The job is durable now; if this signal is lost, the dataset's reminder or the silo start-up sweep picks the job up.
        await Enqueue.NotifyAsync(grains, id, job.Id, loggers);
        return TypedResults.Created($"/datasets/{id}/processes/{job.Id}", ProcessResponse.From(job));
    }
}
