using System.CommandLine;
using System.Globalization;
using DatasetPlatform.Cli.Http;
using DatasetPlatform.Cli.Uploads;

namespace DatasetPlatform.Cli.Commands;

/// <summary>
/// `dp download DATASET`: the rows (or one version's) streamed to a file or stdout as they arrive, never held whole. A file
/// is written under a .part name and renamed when complete, so an interrupted download never looks like a finished one.
/// </summary>
internal static class DownloadCommand
{
    public static Command Build()
    {
        var dataset = new Argument<string>("dataset") { Description = "The dataset's id (or uid: latest or --version as CSV only)." };
        var filter = new Option<string?>("--filter") { Description = "OData $filter, e.g. \"Country eq 'USA' and Date ge 2021-01-01\"." };
        var select = new Option<string?>("--select") { Description = "Columns to include, comma-separated ($select)." };
        var top = new Option<long?>("--top") { Description = "At most this many rows ($top)." };
        var version = new Option<int?>("--version") { Description = "An earlier version (0, 1, ...); default the latest." };
        var format = new Option<string>("--format") { Description = "csv, tsv or json (JSON lines).", DefaultValueFactory = _ => "csv" };
        format.AcceptOnlyFromAmong("csv", "tsv", "json");
        var output = new Option<string>("--output", "-o") { Description = "File to write, or - for stdout (the default).", DefaultValueFactory = _ => "-" };
        var command = new Command("download", "Download a dataset's rows to a file or stdout.") { dataset, filter, select, top, version, format, output };
        command.SetAction((parse, cancellationToken) => CliContext.RunAsync(parse, cancellationToken, async cli =>
        {
            var target = DatasetRef.Parse(parse.GetValue(dataset)!);
            var query = new List<string>();
            string path;
            if (target.Id is { } id)
            {
                query.Add("$format=" + parse.GetValue(format));
                if (parse.GetValue(filter) is { Length: > 0 } f) query.Add("$filter=" + Uri.EscapeDataString(f));
                if (parse.GetValue(select) is { Length: > 0 } s) query.Add("$select=" + Uri.EscapeDataString(s));
                if (parse.GetValue(top) is { } t) query.Add("$top=" + t.ToString(CultureInfo.InvariantCulture));
                if (parse.GetValue(version) is { } v) query.Add("version=" + v.ToString(CultureInfo.InvariantCulture));
                path = $"datasets/{id}/data?{string.Join('&', query)}";
            }
            else
            {
                if (parse.GetValue(filter) is not null || parse.GetValue(select) is not null || parse.GetValue(top) is not null || parse.GetValue(format) != "csv")
                    throw new CliException(ExitCodes.Usage, "--filter, --select, --top and --format need the dataset's numeric id.");
                path = $"api/datasets/{target.Escaped}/download" + (parse.GetValue(version) is { } v ? $"?version={v}" : "");
            }

            using var response = await cli.Api.OpenAsync(target.Id is null ? Surface.Versioned : Surface.Alphacast, path, cancellationToken);
            var destination = parse.GetValue(output)!;
            var toStdout = destination == "-";
            var partial = toStdout ? null : destination + ".part";
            long written = 0;
            try
            {
                await using (var body = await response.Content.ReadAsStreamAsync(cancellationToken))
                await using (var sink = toStdout ? Console.OpenStandardOutput() : File.Create(partial!))
                {
                    var buffer = new byte[81920];
                    await TransferProgress.RunAsync(cli.Terminal, $"Downloading {(toStdout ? "to stdout" : destination)}", response.Content.Headers.ContentLength,
                        () => Interlocked.Read(ref written), async () =>
                        {
                            int read;
                            while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
                            {
                                await sink.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                                Interlocked.Add(ref written, read);
                            }
                            return true;
                        }, showBar: !toStdout); // rows on the terminal and a bar would garble each other
                }
                if (partial is not null) File.Move(partial, destination, overwrite: true);
            }
            catch (Exception e) when (e is HttpRequestException or IOException)
            {
                if (partial is not null) File.Delete(partial);
                throw new CliException(ExitCodes.Error, $"The download was cut off after {TransferProgress.Bytes(written)}: {e.Message}");
            }
            catch
            {
                if (partial is not null) File.Delete(partial);
                throw;
            }
            return ExitCodes.Ok;
        }));
        return command;
    }
}
