using System.Collections;

namespace DatasetPlatform.LoadTest.Doors;

/// <summary>
/// Seed 000/001: PUT /datasets/{id}/data (multipart data + manifest, Basic auth) with onConflictUpdateDB=true. Upload k overlaps half of
/// upload k-1's keys, so the final value of each key must be the last acknowledged upload's that covers it.
/// </summary>
public sealed class AlphacastDriver(LoadContext context) : DoorDriver(context)
{
    public const string Manifest =
        """[{"sourceName":"Date","dataType":"Date","isEntity":true,"dateFormat":"%Y-%m-%d"},{"sourceName":"Entity","dataType":"String","isEntity":true}]""";

    public override Task CreateAsync(DatasetUnderLoad dataset) => CreateTableDatasetAsync(dataset);

    public override async Task UploadAsync(DatasetUnderLoad dataset, UploadRecord upload)
    {
        GeneratedContent? file = null;
        var values = dataset.Values;
        var reply = await SendAsync(dataset, () =>
        {
            file = new GeneratedContent((stream, ct) => GeneratedFiles.WriteKeyedCsvAsync(stream, values, upload.Upload, values.FirstKey(upload.Upload), values.Rows, ct),
                "text/csv").WithType();
            var content = new MultipartFormDataContent { { new StringContent(Manifest), "manifest" }, { file, "data", $"upload-{upload.Upload}.csv" } };
            return new HttpRequestMessage(HttpMethod.Put, $"/datasets/{dataset.Id}/data?deleteMissingFromDB=false&onConflictUpdateDB=true") { Content = content };
        }, Auth.Basic);
        if (reply.Status != 201) { Fail(upload, reply); return; }
        Acknowledge(upload, values.Rows, file?.BytesWritten ?? 0);
        upload.JobIds.Add(Json(reply).GetProperty("id").GetInt64());
    }

    public override Task WaitForCompletionAsync(DatasetUnderLoad dataset) => WaitForProcessesAsync(dataset);

    public override async Task VerifyAsync(DatasetUnderLoad dataset)
    {
        var values = dataset.Values;
        var uploads = dataset.Uploads.Length;
        var keySpace = values.KeySpace(uploads);
        var expected = new BitArray(checked((int)keySpace));
        for (long key = 0; key < keySpace; key++) expected[(int)key] = LastApplied(dataset, key) >= 0;
        var seen = new BitArray(expected.Length);
        int date = -1, entity = -1;
        var valueColumns = new int[RowValues.DecimalColumns];
        var header = true;
        await ReadCsvAsync(dataset, $"/datasets/{dataset.Id}/data", Auth.Basic, row =>
        {
            if (header)
            {
                header = false;
                date = Column(row, "Date");
                entity = Column(row, "Entity");
                for (var j = 0; j < valueColumns.Length; j++) valueColumns[j] = Column(row, "V" + (j + 1));
                if (date < 0 || entity < 0 || valueColumns.Any(c => c < 0)) dataset.Problem($"unexpected header: {string.Join(',', row)}");
                return;
            }
            if (date < 0 || entity < 0 || valueColumns.Any(c => c < 0)) return;
            var key = RowValues.KeyOf(row[date], row[entity]);
            if (key < 0 || key >= keySpace) { dataset.Problem($"a row that no upload sent: {string.Join(',', row)}"); return; }
            if (seen[(int)key]) { dataset.Problem($"row doubled: {row[date]},{row[entity]}"); return; }
            seen[(int)key] = true;
            var last = LastApplied(dataset, key);
            if (last < 0) { dataset.Problem($"a row only unacknowledged uploads sent: {row[date]},{row[entity]}"); return; }
            for (var j = 0; j < valueColumns.Length; j++)
            {
                if (RowValues.SameCents(row[valueColumns[j]], values.Cents(last, key, j + 1))) continue;
                var (first, lastCovering) = values.Covering(key, uploads);
                var from = Enumerable.Range(first, lastCovering - first + 1).Where(k => RowValues.SameCents(row[valueColumns[j]], values.Cents(k, key, j + 1))).ToList();
                dataset.Problem(from.Count > 0
                    ? $"{row[date]},{row[entity]}: V{j + 1} is upload {from[0]}'s value, expected the last upload's ({last}): arrival order not held"
                    : $"{row[date]},{row[entity]}: V{j + 1} = {row[valueColumns[j]]}, which no upload sent (expected upload {last}'s)");
                break;
            }
        });
        ReportMissing(dataset, expected, seen, key => $"{RowValues.DateOf(key):yyyy-MM-dd},{RowValues.EntityOf(key)}");
    }

    /// <summary>The last acknowledged upload covering <paramref name="key"/>, or -1.</summary>
    private static int LastApplied(DatasetUnderLoad dataset, long key)
    {
        var (first, last) = dataset.Values.Covering(key, dataset.Uploads.Length);
        for (var k = last; k >= first; k--) if (dataset.Acknowledged(k)) return k;
        return -1;
    }
}
