using System.Net;
using System.Net.Http.Headers;
using System.Text;
using DatasetPlatform.Cli.Http;
using DatasetPlatform.Cli.Output;

namespace DatasetPlatform.Cli.Uploads;

/// <summary>
/// The Data8 flow (seed 003): the CSV split into numbered blocks of 1000 records, each PATCHed in order (the API stores
/// a block before it answers), then the dataset marked completed. A refused block stops the upload: the blocks before it
/// are stored, and sending the file again replaces the same block numbers, so a corrected file can simply be sent again.
/// </summary>
internal static class BlockUpload
{
    public static async Task<int> RunAsync(CliContext cli, UploadRequest upload, CancellationToken cancellationToken)
    {
        var dataset = await Commands.DatasetCommands.GetAsync(cli, upload.DatasetId, cancellationToken);
        if (JsonView.Text(dataset, "mode") != "blocks")
            throw new CliException(ExitCodes.Usage,
                $"Dataset {upload.DatasetId} is not a block (Data8 input) dataset; create one with `dp datasets create ... --column name:type`, or upload without --blocks.");
        var name = JsonView.Text(dataset, "name");
        var dataPath = $"Dataset/{Uri.EscapeDataString(name)}/data";

        await using var file = new ProgressStream(upload.File.OpenRead());
        var blocks = 0;
        long records = 0;
        Block? refused = null;
        ApiException? refusal = null;
        await TransferProgress.RunAsync(cli.Terminal, $"Sending {upload.File.Name} in blocks", upload.File.Length, () => file.BytesRead, async () =>
        {
            await foreach (var block in new CsvBlocks(file, upload.File.Name, upload.FirstBlock).ReadAsync(cancellationToken))
            {
                var body = new ReadOnlyMemoryContent(block.Body);
                body.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
                try
                {
                    await cli.Api.SendAsync(Surface.Blocks, HttpMethod.Patch, dataPath, body, cancellationToken);
                }
                catch (ApiException e) when (e.Status == HttpStatusCode.ServiceUnavailable && e.RawBody?.Contains("block-pending", StringComparison.Ordinal) == true)
                {
                    // Accepted and queued behind earlier uploads: it will be stored in order.
                }
                catch (ApiException e) when (e.Status is HttpStatusCode.BadRequest or HttpStatusCode.RequestEntityTooLarge)
                {
                    refused = block;
                    refusal = e;
                    return false;
                }
                blocks++;
                records += block.Records;
            }
            return true;
        }, () => $"Blocks: {blocks} stored ({records:N0} records)");

        if (refused is not null)
        {
            var stored = blocks == 0 ? "No block was stored." : $"Blocks {upload.FirstBlock} to {refused.Number - 1} ({records:N0} records) are stored; "
                + "sending the file again replaces the same block numbers.";
            cli.Terminal.Problem(
                $"Block {refused.Number} (records {refused.FirstRecord + 1} to {refused.FirstRecord + refused.Records} of the file) was refused: {refusal!.Title}",
                $"{refusal.Detail}\n{stored}", refusal.FieldErrors);
            return ExitCodes.ImportFailed;
        }

        if (upload.CompleteBlocks)
        {
            var completed = new StringContent("""{"completed": true}""", Encoding.UTF8, "application/json");
            await cli.Api.SendAsync(Surface.Blocks, HttpMethod.Put, $"Dataset/{Uri.EscapeDataString(name)}", completed, cancellationToken);
        }
        var final = await cli.Api.GetAsync(Surface.Blocks, $"Dataset/{Uri.EscapeDataString(name)}", cancellationToken);
        cli.Show(final, () => cli.Terminal.Result(
            $"Stored {records:N0} records in {blocks} block(s) of dataset {upload.DatasetId} '{name}'{(upload.CompleteBlocks ? ", completed" : "")}."));
        return ExitCodes.Ok;
    }
}
