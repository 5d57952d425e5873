using System.Net.Http.Headers;
using DatasetPlatform.Cli.Http;
using DatasetPlatform.Cli.Output;

namespace DatasetPlatform.Cli.Uploads;

/// <summary>
/// PUT /datasets/{id}/data as the Alphacast SDK sends it: multipart with the manifest field before the file field `data`,
/// the merge flags in the query. The file streams from disk; the 201 carries the process to follow.
/// </summary>
internal static class AlphacastUpload
{
    public static async Task<int> RunAsync(CliContext cli, UploadRequest upload, CancellationToken cancellationToken)
    {
        // The gateway refuses an unknown dataset or a key without Write before it reads the body, and a refusal that comes
        // while a large body is still being sent reaches the client as a broken connection; ask first, so it reads as a 404/403.
        await Commands.DatasetCommands.GetAsync(cli, upload.DatasetId, cancellationToken);
        var query = $"?deleteMissingFromDB={Flag(upload.DeleteMissing)}&onConflictUpdateDB={Flag(upload.UpdateOnConflict)}"
            + $"&acceptNewColumns={Flag(upload.AcceptNewColumns)}";
        await using var file = new ProgressStream(upload.File.OpenRead());
        using var content = new MultipartFormDataContent();
        if (upload.Manifest is not null) content.Add(new StringContent(upload.Manifest), "manifest");
        var data = new StreamContent(file, 64 * 1024);
        data.Headers.ContentType = new MediaTypeHeaderValue(UploadRequest.ContentTypeOf(upload.File.Name));
        content.Add(data, "data", upload.File.Name);

        var created = await TransferProgress.RunAsync(cli.Terminal, $"Uploading {upload.File.Name}", upload.File.Length, () => file.BytesRead,
            () => cli.Api.SendAsync(Surface.Alphacast, HttpMethod.Put, $"datasets/{upload.DatasetId}/data{query}", content, cancellationToken, bounded: false));
        var jobId = created.Root.GetProperty("id").GetInt64();
        if (!upload.Wait)
        {
            cli.Show(created, () => cli.Terminal.Result($"Import {jobId}: {JsonView.Text(created.Root, "status")} (follow it with `dp imports follow {upload.DatasetId} {jobId}`)."));
            return ExitCodes.Ok;
        }
        var finished = await ImportWatcher.WaitAsync(cli, upload.DatasetId, jobId, upload.Timeout, cancellationToken);
        return ImportWatcher.Report(cli, finished);
    }

    // The SDK's spelling (Python's str(True)); the API reads any case.
    private static string Flag(bool value) => value ? "True" : "False";
}
