using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using DatasetPlatform.Cli.Http;
using DatasetPlatform.Cli.Output;

namespace DatasetPlatform.Cli.Uploads;

/// <summary>
/// The V4 flow (seed 002): set the schema if one is given, ask for an upload URL, PUT the file to it without credentials,
/// then poll the import. Rows read come from the job's live progress; the outcome is told in V4's words
/// (complete, partial, failed, pending_schema) with each rejected record's index and field.
/// </summary>
internal static class PresignedUpload
{
    public static async Task<int> RunAsync(CliContext cli, UploadRequest upload, CancellationToken cancellationToken)
    {
        var dataset = upload.DatasetId;
        if (upload.Manifest is not null)
        {
            var schema = new StringContent(upload.Manifest, Encoding.UTF8, "application/json");
            await cli.Api.SendAsync(Surface.Presigned, HttpMethod.Put, $"datasets/{dataset}/schema", schema, cancellationToken);
        }
        var url = await cli.Api.GetAsync(Surface.Presigned, $"datasets/{dataset}/upload-url/{Uri.EscapeDataString(upload.File.Name)}", cancellationToken);
        var importId = long.Parse(JsonView.Text(url.Root, "import_id"), System.Globalization.CultureInfo.InvariantCulture);
        var target = new Uri(JsonView.Text(url.Root, "upload_url"));

        await using var file = new ProgressStream(upload.File.OpenRead());
        using var body = new StreamContent(file, 64 * 1024);
        body.Headers.ContentType = MediaTypeHeaderValue.Parse(JsonView.Text(url.Root, "content_type"));
        await TransferProgress.RunAsync(cli.Terminal, $"Uploading {upload.File.Name}", upload.File.Length, () => file.BytesRead, async () =>
        {
            await cli.Api.PutToSignedUrlAsync(target, body, cancellationToken);
            return true;
        });

        var importPath = $"datasets/{dataset}/imports/{importId}";
        if (!upload.Wait)
        {
            var queued = await cli.Api.GetAsync(Surface.Presigned, importPath, cancellationToken);
            cli.Show(queued, () => cli.Terminal.Result($"Import {importId}: {JsonView.Text(queued.Root, "status")} (follow it with `dp imports follow {dataset} {importId}`)."));
            return ExitCodes.Ok;
        }
        // The job is one job on every surface: its live progress is read where the API serves it, its outcome in V4's words.
        await ImportWatcher.WaitAsync(cli, dataset, importId, upload.Timeout, cancellationToken);
        return Report(cli, await cli.Api.GetAsync(Surface.Presigned, importPath, cancellationToken));
    }

    public static int Report(CliContext cli, ApiJson import)
    {
        var root = import.Root;
        var id = JsonView.Text(root, "import_id");
        var status = JsonView.Text(root, "status");
        if (cli.Terminal.Json) cli.Terminal.WriteJson(import);
        var errors = root.TryGetProperty("errors", out var list) && list.ValueKind == JsonValueKind.Array
            ? list.EnumerateArray().Select(e => $"record {JsonView.Text(e, "record_index")}, field {Field(e)}: {JsonView.Text(e, "reason")}").ToList()
            : [];
        switch (status)
        {
            case "complete":
                if (!cli.Terminal.Json) cli.Terminal.Result($"Import {id}: complete, {JsonView.Text(root, "accepted_count")} records accepted.");
                return ExitCodes.Ok;
            case "partial":
                if (!cli.Terminal.Json)
                    cli.Terminal.Result($"Import {id}: partial, {JsonView.Text(root, "accepted_count")} records accepted, {JsonView.Text(root, "rejected_count")} rejected.");
                cli.Terminal.Problem($"Import {id}: {JsonView.Text(root, "errors_total")} record(s) rejected; the others are loaded.", null, errors);
                return ExitCodes.ImportPartial;
            default:
                cli.Terminal.Problem($"Import {id} {status}; the dataset is unchanged.", JsonView.Text(root, "reason"), errors);
                return ExitCodes.ImportFailed;
        }
    }

    private static string Field(JsonElement error) => JsonView.Text(error, "field") is { Length: > 0 } name ? name : "-";
}
