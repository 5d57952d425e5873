using System.Collections;
using System.Globalization;
using System.Text;

namespace DatasetPlatform.LoadTest.Doors;

/// <summary>
/// Seed 003: PATCH /Dataset/{name}/data numbered blocks of up to 1000 records (Bearer: the raw API key). Upload k sends its records as
/// blocks of group k/2, so uploads 2g and 2g+1 write the same block numbers and the second must replace the first. The records read back
/// in block order must be exactly each group's last acknowledged upload.
/// </summary>
public sealed class BlocksDriver(LoadContext context) : DoorDriver(context)
{
    private static int BlocksPerUpload(RowValues values) => (values.Rows + Scenario.MaxBlockRecords - 1) / Scenario.MaxBlockRecords;

    public override async Task CreateAsync(DatasetUnderLoad dataset)
    {
        dataset.Name = DatasetName(dataset);
        var body = System.Text.Json.JsonSerializer.Serialize(new
        {
            name = dataset.Name,
            repositoryId = Text(Context.RepositoryId),
            input = true,
            columns = new Dictionary<string, string> { ["key"] = "integer", ["upload"] = "integer", ["value"] = "decimal", ["label"] = "string" },
        });
        var reply = await SendAsync(dataset, () => new HttpRequestMessage(HttpMethod.Post, "/Dataset") { Content = new StringContent(body, Encoding.UTF8, "application/json") },
            Auth.Bearer);
        if (reply.Status != 201) throw new InvalidOperationException($"POST /Dataset: {reply}");
        dataset.Id = Json(reply).GetProperty("id").GetInt64();
    }

    public override async Task UploadAsync(DatasetUnderLoad dataset, UploadRecord upload)
    {
        var values = dataset.Values;
        var blocks = BlocksPerUpload(values);
        long bytes = 0;
        for (var j = 0; j < blocks; j++)
        {
            var first = values.FirstKey(upload.Upload) + j * Scenario.MaxBlockRecords;
            var count = Math.Min(Scenario.MaxBlockRecords, values.Rows - j * Scenario.MaxBlockRecords);
            var body = BlockBody(values, upload.Upload, (upload.Upload / 2) * blocks + j, first, count);
            bytes += Encoding.UTF8.GetByteCount(body);
            // A 503 says the block is accepted but still queued: sending the same block again stores the same records, so it is safe.
            var reply = await SendAsync(dataset, () => new HttpRequestMessage(HttpMethod.Patch, $"/Dataset/{Uri.EscapeDataString(dataset.Name)}/data")
            {
                Content = new StringContent(body, Encoding.UTF8, "application/json"),
            }, Auth.Bearer, retryUnavailable: true);
            if (reply.Status != 200)
            {
                Fail(upload, reply);
                // Some blocks of this upload may be stored: the dataset's final state is no longer known exactly.
                if (j > 0) upload.Indeterminate = true;
                return;
            }
            upload.JobIds.Add(Json(reply).GetProperty("importId").GetInt64());
        }
        Acknowledge(upload, values.Rows, bytes);
        // The PATCH answers once the block is stored.
        upload.Completed = upload.Acknowledged;
        upload.Outcome = "Processed";
    }

    private static string BlockBody(RowValues values, int upload, int blockNumber, long first, int count)
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        writer.Write("{\"blockNumber\":");
        writer.Write(blockNumber.ToString(CultureInfo.InvariantCulture));
        writer.Write(",\"records\":[");
        for (var key = first; key < first + count; key++)
        {
            if (key > first) writer.Write(',');
            GeneratedFiles.WriteRecordJson(writer, values, upload, key);
        }
        writer.Write("]}");
        return writer.ToString();
    }

    /// <summary>The blocks are stored by the time each PATCH answers; the order check still reads the processes.</summary>
    public override Task WaitForCompletionAsync(DatasetUnderLoad dataset) => WaitForProcessesAsync(dataset);

    public override async Task VerifyAsync(DatasetUnderLoad dataset)
    {
        var values = dataset.Values;
        var expected = new List<(int Upload, long First)>();
        for (var group = 0; 2 * group < dataset.Uploads.Length; group++)
        {
            var last = Enumerable.Range(2 * group, 2).Where(k => k < dataset.Uploads.Length && dataset.Acknowledged(k)).DefaultIfEmpty(-1).Max();
            if (last >= 0) expected.Add((last, values.FirstKey(last)));
        }
        long position = 0;
        var total = (long)expected.Count * values.Rows;
        var driver = new PresignedDriver(Context);
        await driver.VerifyRecordsAsync(dataset, $"/datasets/{dataset.Id}/data", Auth.Basic, (upload, key, row) =>
        {
            if (position >= total) { position++; return $"an extra record at position {position - 1}: {row}"; }
            var (expectedUpload, first) = expected[(int)(position / values.Rows)];
            var expectedKey = first + position % values.Rows;
            position++;
            return upload == expectedUpload && key == expectedKey
                ? null
                : $"record {position - 1} is upload {upload}'s key {key}, expected upload {expectedUpload}'s key {expectedKey} (block order or replacement broken)";
        });
        if (position < total) dataset.Problem($"{total - position} record(s) lost: read {position}, expected {total}");
    }
}
