using DatasetPlatform.Grains.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace DatasetPlatform.Api.Apis;

/// <summary>A request rejected part-way through reading its body; carries the response to send.</summary>
public sealed class UploadRejectedException(ProblemHttpResult problem) : Exception(problem.ProblemDetails.Detail)
{
    public ProblemHttpResult Problem { get; } = problem;
}

/// <summary>
/// Walks a multipart/form-data body section by section: text fields are collected (each capped, so no field can
/// make us buffer a file), and the first file field streams straight into <c>stage</c>, which sees the fields read
/// so far. Nothing of the file is held in memory.
/// </summary>
public static class MultipartUpload
{
    private const int MaxTextChars = 1 << 20;   // all text fields together
    private const int MaxFields = 64;
    // The reader hands the file out at most one buffer at a time; its 4 KB default made ~26,000 reads (each through the
    // idle-timeout stream and Kestrel's pipe) per 100 MB.
    private const int ReadBufferBytes = 64 << 10;

    public sealed record Parts(IReadOnlyDictionary<string, string> Fields, StagedFile? File);

    /// <exception cref="UploadRejectedException">The body is not multipart, is malformed, a field is too long, the file is too large, or <c>stage</c> refused it.</exception>
    public static async Task<Parts> ReadAsync(HttpRequest request, IReadOnlyCollection<string> fileFields,
        Func<string, Stream, IReadOnlyDictionary<string, string>, Task<StagedFile>> stage, CancellationToken cancellationToken)
    {
        var boundary = MultipartBoundary.From(request.ContentType)
            ?? throw new UploadRejectedException(Problems.BadRequest($"Send multipart/form-data with the file in the field '{fileFields.First()}'."));
        var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        StagedFile? file = null;
        var reader = new MultipartReader(boundary, request.Body, ReadBufferBytes);
        try
        {
            while (await reader.ReadNextSectionAsync(cancellationToken) is { } section)
            {
                if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)) continue;
                var name = HeaderUtilities.RemoveQuotes(disposition.Name).Value ?? "";
                if (fileFields.Contains(name, StringComparer.OrdinalIgnoreCase))
                {
                    if (file is not null) continue; // one file per upload; later ones are ignored
                    var fileName = HeaderUtilities.RemoveQuotes(disposition.FileNameStar.HasValue ? disposition.FileNameStar : disposition.FileName).Value;
                    file = await stage(string.IsNullOrWhiteSpace(fileName) ? "upload.csv" : Path.GetFileName(fileName), section.Body, fields);
                }
                else
                {
                    if (fields.Count >= MaxFields) throw new UploadRejectedException(Problems.BadRequest($"The form has more than {MaxFields} fields."));
                    fields[name] = await ReadFieldAsync(name, section.Body, MaxTextChars - fields.Values.Sum(v => v.Length), cancellationToken);
                }
            }
        }
        catch (UploadTooLargeException e) { throw new UploadRejectedException(Problems.TooLarge(e.Message)); }
        catch (InvalidDataException e) { throw new UploadRejectedException(Problems.BadRequest($"The multipart body is malformed: {e.Message}")); }
        return new Parts(fields, file);
    }

    private static async Task<string> ReadFieldAsync(string name, Stream body, int budget, CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(body);
        var text = new System.Text.StringBuilder();
        var chunk = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(chunk, cancellationToken)) > 0)
        {
            text.Append(chunk, 0, read);
            if (text.Length > budget)
                throw new UploadRejectedException(Problems.BadRequest($"The form's text fields are longer than {MaxTextChars} characters in all (at '{name}')."));
        }
        return text.ToString();
    }
}
