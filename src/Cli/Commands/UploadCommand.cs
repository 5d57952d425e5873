using System.CommandLine;
using DatasetPlatform.Cli.Uploads;

namespace DatasetPlatform.Cli.Commands;

/// <summary>
/// `dp upload DATASET FILE`: Alphacast multipart by default, `--presigned` for the V4 presigned flow, `--blocks` for Data8
/// blocks. Shows the bytes sent, then the rows processed, then the outcome; waits unless --no-wait.
/// </summary>
internal static class UploadCommand
{
    public static Command Build()
    {
        var dataset = new Argument<string>("dataset") { Description = "The dataset's numeric id." };
        var file = new Argument<FileInfo>("file") { Description = "CSV (.csv, .csv.gz), JSON lines (--presigned) or Parquet file." };
        var presigned = new Option<bool>("--presigned") { Description = "V4 flow: ask for a signed upload URL, PUT the file to it, poll the import." };
        var blocks = new Option<bool>("--blocks") { Description = "Data8 flow: send the CSV in numbered blocks of 1000 records to a block dataset, then complete it." };
        var manifest = new Option<string?>("--manifest")
        {
            Description = "The manifest (column types, entity and date columns) as JSON, or @file. Alphacast: sent with the file; --presigned: set as the schema first.",
        };
        var deleteMissing = new Option<bool>("--delete-missing") { Description = "deleteMissingFromDB: rows absent from the file are deleted (a full replacement)." };
        var update = new Option<bool>("--update") { Description = "onConflictUpdateDB: rows whose key exists take the file's values." };
        var acceptNewColumns = new Option<bool>("--accept-new-columns") { Description = "acceptNewColumns: columns not in the dataset are added." };
        var noWait = new Option<bool>("--no-wait") { Description = "Return once the file is received, with the import's id." };
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for the import to finish.", DefaultValueFactory = _ => 3600 };
        var firstBlock = new Option<int>("--first-block") { Description = "--blocks: number of the first block (blocks with the same number are replaced).", DefaultValueFactory = _ => 0 };
        var noComplete = new Option<bool>("--no-complete") { Description = "--blocks: leave the dataset open for more blocks." };

        var command = new Command("upload", "Upload a file into a dataset and wait for its import.")
        {
            dataset, file, presigned, blocks, manifest, deleteMissing, update, acceptNewColumns, noWait, timeout, firstBlock, noComplete,
        };
        command.Validators.Add(result =>
        {
            if (result.GetValue(presigned) && result.GetValue(blocks)) result.AddError("Choose one of --presigned and --blocks.");
            if (result.GetValue(blocks) && (result.GetValue(manifest) is not null || result.GetValue(deleteMissing) || result.GetValue(update) || result.GetValue(acceptNewColumns)))
                result.AddError("--blocks takes no manifest or merge flags: a block dataset's columns are fixed when it is created.");
            if (result.GetValue(presigned) && (result.GetValue(deleteMissing) || result.GetValue(update) || result.GetValue(acceptNewColumns)))
                result.AddError("The merge flags belong to the Alphacast upload; the presigned flow appends records.");
        });
        command.SetAction((parse, cancellationToken) => CliContext.RunAsync(parse, cancellationToken, cli =>
        {
            var path = parse.GetValue(file)!;
            if (!path.Exists) throw new CliException(ExitCodes.Usage, $"{path.FullName} does not exist.");
            var request = new UploadRequest(
                DatasetRef.Parse(parse.GetValue(dataset)!).RequireId("upload"), path, ReadManifest(parse.GetValue(manifest)),
                parse.GetValue(deleteMissing), parse.GetValue(update), parse.GetValue(acceptNewColumns), !parse.GetValue(noWait),
                TimeSpan.FromSeconds(Math.Max(1, parse.GetValue(timeout))), parse.GetValue(firstBlock), !parse.GetValue(noComplete));
            return parse.GetValue(blocks) ? BlockUpload.RunAsync(cli, request, cancellationToken)
                : parse.GetValue(presigned) ? PresignedUpload.RunAsync(cli, request, cancellationToken)
                : AlphacastUpload.RunAsync(cli, request, cancellationToken);
        }));
        return command;
    }

    /// <summary>The manifest as given, or the contents of @file; checked to be JSON here so a typo is a usage error, not a 400.</summary>
    private static string? ReadManifest(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        var text = value;
        if (value.StartsWith('@'))
        {
            var path = value[1..];
            if (!File.Exists(path)) throw new CliException(ExitCodes.Usage, $"Manifest file {path} does not exist.");
            text = File.ReadAllText(path);
        }
        try
        {
            using var _ = System.Text.Json.JsonDocument.Parse(text);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new CliException(ExitCodes.Usage, $"--manifest is not valid JSON: {e.Message}");
        }
        return text;
    }
}
