using System.Buffers;
using System.IO.Compression;
using System.Text.Json;
using Sylvan.Data.Csv;

namespace DatasetPlatform.Cli.Uploads;

/// <summary>
/// Splits a CSV file (optionally gzip-compressed) into Data8 blocks of at most <see cref="RecordsPerBlock"/> records, read as
/// the blocks are sent: only the current block is in memory. Each record is an object keyed by the header's column
/// names; an empty field is sent as null so that typed columns take it as a missing value.
/// </summary>
internal sealed class CsvBlocks(Stream source, string fileName, int firstBlockNumber)
{
    /// <summary>The API's limit (seed 003: at most 1000 records per block).</summary>
    public const int RecordsPerBlock = 1000;

    public async IAsyncEnumerable<Block> ReadAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        Stream input = fileName.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(source, CompressionMode.Decompress, leaveOpen: true) : source;
        using var text = new StreamReader(input, detectEncodingFromByteOrderMarks: true);
        await using var csv = await CsvDataReader.CreateAsync(text, new CsvDataReaderOptions { HasHeaders = true }, cancellationToken);
        var names = Enumerable.Range(0, csv.FieldCount).Select(csv.GetName).ToArray();
        if (names.Length == 0) throw new CliException(ExitCodes.Usage, $"{fileName} has no header row.");

        var buffer = new ArrayBufferWriter<byte>(256 * 1024);
        var number = firstBlockNumber;
        long recordIndex = 0, firstInBlock = 0;
        var inBlock = 0;
        Utf8JsonWriter? writer = null;
        while (await csv.ReadAsync(cancellationToken))
        {
            if (writer is null)
            {
                buffer.ResetWrittenCount();
                writer = new Utf8JsonWriter(buffer);
                writer.WriteStartObject();
                writer.WriteNumber("blockNumber", number);
                writer.WriteStartArray("records");
                firstInBlock = recordIndex;
            }
            writer.WriteStartObject();
            for (var i = 0; i < names.Length; i++)
            {
                var value = i < csv.RowFieldCount ? csv.GetString(i) : "";
                if (value.Length == 0) writer.WriteNull(names[i]);
                else writer.WriteString(names[i], value);
            }
            writer.WriteEndObject();
            recordIndex++;
            if (++inBlock == RecordsPerBlock)
            {
                yield return Finish(writer, buffer, number++, firstInBlock, inBlock);
                writer = null;
                inBlock = 0;
            }
        }
        if (writer is not null) yield return Finish(writer, buffer, number, firstInBlock, inBlock);
    }

    private static Block Finish(Utf8JsonWriter writer, ArrayBufferWriter<byte> buffer, int number, long firstRecord, int records)
    {
        writer.WriteEndArray();
        writer.WriteEndObject();
        writer.Flush();
        writer.Dispose();
        return new Block(number, firstRecord, records, buffer.WrittenMemory);
    }
}
