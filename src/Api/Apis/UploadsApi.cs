using System.Security.Claims;
using DatasetPlatform.Api.Auth;
using DatasetPlatform.Api.Hosting;
using DatasetPlatform.Grains.Abstractions;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Grains.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

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
        app.MapPut("/datasets/{id:long}/data", Upload).WithTags("Uploads").DisableAntiforgery();
        return app;
    }

    public static async Task<Results<Created<ProcessResponse>, ProblemHttpResult>> Upload(long id, HttpRequest request, ClaimsPrincipal user,
        DatasetAccess access, JobStore jobs, IGrainFactory grains, IOptions<PlatformOptions> options, CancellationToken cancellationToken)
    {
        var caller = Caller.From(user);
        var (dataset, _, problem) = await access.ResolveAsync(id, caller, RepositoryRole.Write);
        if (problem is not null) return problem;

        var flags = new Dictionary<string, bool>();
        foreach (var name in (string[])["deleteMissingFromDB", "onConflictUpdateDB", "acceptNewColumns"])
        {
            if (!QueryFlags.TryRead(request.Query, name, out var value, out var error))
                return Problems.BadRequest(error!, new Dictionary<string, string[]> { [name] = [error!] });
            flags[name] = value;
        }
        // A locked manifest forces the flags that could change the dataset's shape or drop rows.
        var locked = dataset!.ManifestLocked;

        var boundary = MultipartBoundary.From(request.ContentType);
        if (boundary is null) return Problems.BadRequest("Send the file as multipart/form-data in the field 'data'.");

        await using var session = await jobs.BeginUploadAsync(cancellationToken);
        var reader = new MultipartReader(boundary, request.Body);
        StagedFile? staged = null;
        string? manifestText = null;
        try
        {
            while (await reader.ReadNextSectionAsync(cancellationToken) is { } section)
            {
                if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)) continue;
                var field = HeaderUtilities.RemoveQuotes(disposition.Name).Value ?? "";
                if (FileFields.Contains(field, StringComparer.OrdinalIgnoreCase) && staged is null)
                {
                    var fileName = HeaderUtilities.RemoveQuotes(disposition.FileNameStar.HasValue ? disposition.FileNameStar : disposition.FileName).Value ?? "data.csv";
                    staged = await session.StageAsync(id, fileName, section.Body, options.Value.MaxUploadBytes, cancellationToken);
                }
                else if (field.Equals("manifest", StringComparison.OrdinalIgnoreCase))
                {
                    manifestText = await new StreamReader(section.Body).ReadToEndAsync(cancellationToken);
                }
            }
        }
        catch (UploadTooLargeException e)
        {
            return Problems.TooLarge(e.Message);
        }
        catch (InvalidDataException e)
        {
            return Problems.BadRequest($"The multipart body is malformed: {e.Message}");
        }
        if (staged is null)
            return Problems.BadRequest("The upload has no file: send it in the form field 'data'.", new Dictionary<string, string[]> { ["data"] = ["Required."] });

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
            Format: staged.FileName.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? "csv.gz" : "csv"), staged, cancellationToken);

        // The job is durable now; if this signal is lost, the dataset's reminder or the silo start-up sweep picks the job up.
        await grains.GetGrain<IDatasetGrain>(id).NotifyEnqueued(job.Id);
        return TypedResults.Created($"/datasets/{id}/processes/{job.Id}", ProcessResponse.From(job));
    }
}
