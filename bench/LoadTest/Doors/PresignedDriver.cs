using System.Collections;
using System.Text;

namespace DatasetPlatform.LoadTest.Doors;

/// <summary>
/// Seed 002: GET /datasets/{id}/upload-url/{file} (Token auth), then PUT the JSON lines to the URL with no credentials. Records append,
/// so the final state is every record of every acknowledged upload, once.
/// </summary>
public sealed class PresignedDriver(LoadContext context) : DoorDriver(context)
{
    private const string Schema =
        """{"strict": true, "fields": {"key": {"type": "integer"}, "upload": {"type": "integer"}, "value": {"type": "decimal"}, "label": {"type": "string"}}}""";

    public override async Task CreateAsync(DatasetUnderLoad dataset)
    {
        await CreateTableDatasetAsync(dataset);
        var schema = await SendAsync(dataset, () => new HttpRequestMessage(HttpMethod.Put, $"/api/v1/data-collection/datasets/{dataset.Id}/schema")
        {
            Content = new StringContent(Schema, Encoding.UTF8, "application/json"),
        }, Auth.Token);
        if (!schema.Ok) throw new InvalidOperationException($"PUT schema: {schema}");
    }

    public override async Task UploadAsync(DatasetUnderLoad dataset, UploadRecord upload)
    {
        var url = await SendAsync(dataset, () => new HttpRequestMessage(HttpMethod.Get,
            $"/api/v1/data-collection/datasets/{dataset.Id}/upload-url/upload-{upload.Upload}.jsonl"), Auth.Token);
        if (url.Status != 201) { Fail(upload, url); return; }
        var created = Json(url);
        var importId = long.Parse(created.GetProperty("import_id").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        // The URL names the gateway that signed it; any gateway of the service takes it, and this client knows its own address.
        var target = new Uri(created.GetProperty("upload_url").GetString()!).PathAndQuery;
        GeneratedContent? file = null;
        var values = dataset.Values;
        var put = await SendAsync(dataset, () =>
        {
            file = new GeneratedContent((stream, ct) => GeneratedFiles.WriteJsonLinesAsync(stream, values, upload.Upload, ct), "application/x-ndjson").WithType();
            return new HttpRequestMessage(HttpMethod.Put, target) { Content = file };
        }, Auth.None);
        if (!put.Ok) { Fail(upload, put); return; }
        Acknowledge(upload, values.Rows, file?.BytesWritten ?? 0);
        upload.JobIds.Add(importId);
    }

    public override Task WaitForCompletionAsync(DatasetUnderLoad dataset) => WaitForProcessesAsync(dataset);

    public override async Task VerifyAsync(DatasetUnderLoad dataset)
    {
        var values = dataset.Values;
        var rows = values.Rows;
        var expected = new BitArray(checked(dataset.Uploads.Length * rows));
        for (var k = 0; k < dataset.Uploads.Length; k++)
            if (dataset.Acknowledged(k)) for (var r = 0; r < rows; r++) expected[k * rows + r] = true;
        var seen = new BitArray(expected.Length);
        await VerifyRecordsAsync(dataset, $"/datasets/{dataset.Id}/data", Auth.Basic, (upload, key, row) =>
        {
            var offset = key - values.FirstKey(upload);
            if (upload < 0 || upload >= dataset.Uploads.Length || offset < 0 || offset >= rows) return $"a record that no upload sent: {row}";
            var index = upload * rows + (int)offset;
            if (!expected[index]) return $"a record of an unacknowledged upload: {row}";
            if (seen[index]) return $"record doubled: {row}";
            seen[index] = true;
            return null;
        });
        ReportMissing(dataset, expected, seen, index => $"upload {index / rows}'s record with key {values.FirstKey((int)(index / rows)) + index % rows}");
    }

    /// <summary>
    /// Reads records (key, upload, value, label) back; checks each one's value and label against what upload sent it and lets
    /// <paramref name="place"/> account for it (returns a problem, or null).
    /// </summary>
    internal async Task VerifyRecordsAsync(DatasetUnderLoad dataset, string path, Auth auth, Func<int, long, string, string?> place)
    {
        int keyColumn = -1, uploadColumn = -1, valueColumn = -1, labelColumn = -1;
        var header = true;
        await ReadCsvAsync(dataset, path, auth, row =>
        {
            if (header)
            {
                header = false;
                (keyColumn, uploadColumn, valueColumn, labelColumn) = (Column(row, "key"), Column(row, "upload"), Column(row, "value"), Column(row, "label"));
                if (keyColumn < 0 || uploadColumn < 0 || valueColumn < 0 || labelColumn < 0) dataset.Problem($"unexpected header: {string.Join(',', row)}");
                return;
            }
            if (keyColumn < 0 || uploadColumn < 0 || valueColumn < 0 || labelColumn < 0) return;
            var text = string.Join(',', row);
            if (!long.TryParse(row[keyColumn], out var key) || !int.TryParse(row[uploadColumn], out var upload))
            {
                dataset.Problem($"a record that no upload sent: {text}");
                return;
            }
            if (place(upload, key, text) is { } problem) { dataset.Problem(problem); return; }
            if (!RowValues.SameCents(row[valueColumn], dataset.Values.Cents(upload, key, 0)) || row[labelColumn] != RowValues.Label(upload, key))
                dataset.Problem($"record of upload {upload} key {key} changed: {text}");
        });
    }
}
