using System.Collections;
using System.Globalization;

namespace DatasetPlatform.LoadTest.Doors;

/// <summary>
/// Seed 004: POST /api/datasets/upload creates the dataset with upload 0, POST /api/datasets/{id}/versions adds each later one (Bearer).
/// Both answer once the version exists. Each version replaces the data: the final state is the last acknowledged upload's file, and the
/// versions list must hold the acknowledged uploads in the order they were acknowledged.
/// </summary>
public sealed class VersionsDriver(LoadContext context) : DoorDriver(context)
{
    /// <summary>The dataset is created by its first upload.</summary>
    public override Task CreateAsync(DatasetUnderLoad dataset) => Task.CompletedTask;

    private static string Description(int upload) => "load upload " + upload.ToString(CultureInfo.InvariantCulture);

    public override async Task UploadAsync(DatasetUnderLoad dataset, UploadRecord upload)
    {
        if (upload.Upload > 0 && dataset.Name.Length == 0)
        {
            upload.Failure = "not sent: the dataset's first upload failed";
            return;
        }
        GeneratedContent? file = null;
        var values = dataset.Values;
        var reply = await SendAsync(dataset, () =>
        {
            file = new GeneratedContent((stream, ct) => GeneratedFiles.WriteRecordCsvAsync(stream, values, upload.Upload, ct), "text/csv").WithType();
            var content = new MultipartFormDataContent { { new StringContent(Description(upload.Upload)), "description" } };
            if (upload.Upload == 0)
            {
                content.Add(new StringContent(Text(Context.RepositoryId)), "project_id");
                content.Add(new StringContent(DatasetName(dataset)), "name");
            }
            content.Add(file, "file", $"upload-{upload.Upload}.csv");
            return new HttpRequestMessage(HttpMethod.Post, upload.Upload == 0 ? "/api/datasets/upload" : $"/api/datasets/{dataset.Name}/versions") { Content = content };
        }, Auth.Bearer);
        if (reply.Status != 201) { Fail(upload, reply); return; }
        Acknowledge(upload, values.Rows, file?.BytesWritten ?? 0);
        if (upload.Upload == 0) dataset.Name = Json(reply).GetProperty("dataset_id").GetString()!;
        upload.Completed = upload.Acknowledged;
        upload.Outcome = "Processed";
    }

    /// <summary>Checks the versions list: one version per acknowledged upload, in acknowledgement order, each with the upload's rows.</summary>
    public override async Task WaitForCompletionAsync(DatasetUnderLoad dataset)
    {
        if (dataset.Name.Length == 0) return;
        var reply = await SendAsync(dataset, () => new HttpRequestMessage(HttpMethod.Get, $"/api/datasets/{dataset.Name}/versions?limit=100"), Auth.Bearer);
        if (!reply.Ok) { dataset.Problem($"GET versions: {reply}"); return; }
        var listed = Json(reply).GetProperty("items").EnumerateArray()
            .Select(v => (Version: v.GetProperty("version").GetInt32(), Rows: v.GetProperty("row_count").GetInt64(), Description: v.GetProperty("description").GetString()))
            .ToList();
        var acknowledged = dataset.Uploads.Where(u => u.Acknowledged is not null).Select(u => u.Upload).ToList();
        if (listed.Count != acknowledged.Count)
            dataset.Problem($"{listed.Count} version(s) listed for {acknowledged.Count} acknowledged upload(s)");
        for (var i = 0; i < Math.Min(listed.Count, acknowledged.Count); i++)
        {
            if (listed[i].Description != Description(acknowledged[i]))
                dataset.Problem($"version {listed[i].Version} is '{listed[i].Description}', expected '{Description(acknowledged[i])}': arrival order not held");
            else if (listed[i].Rows != dataset.Values.Rows)
                dataset.Problem($"version {listed[i].Version} has {listed[i].Rows} rows, its upload sent {dataset.Values.Rows}");
        }
    }

    public override async Task VerifyAsync(DatasetUnderLoad dataset)
    {
        if (dataset.Name.Length == 0) return;
        var values = dataset.Values;
        var last = dataset.Uploads.Where(u => u.Acknowledged is not null).Select(u => u.Upload).DefaultIfEmpty(-1).Max();
        var expected = new BitArray(values.Rows, true);
        var seen = new BitArray(values.Rows);
        await new PresignedDriver(Context).VerifyRecordsAsync(dataset, $"/api/datasets/{dataset.Name}/download", Auth.Bearer, (upload, key, row) =>
        {
            if (upload != last) return $"a record of upload {upload} in the last version (upload {last}'s): {row}";
            var offset = key - values.FirstKey(last);
            if (offset < 0 || offset >= values.Rows) return $"a record that no upload sent: {row}";
            if (seen[(int)offset]) return $"record doubled: {row}";
            seen[(int)offset] = true;
            return null;
        });
        ReportMissing(dataset, expected, seen, offset => $"key {values.FirstKey(last) + offset}");
    }
}
