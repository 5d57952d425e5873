using System.Diagnostics;
using System.Text;
using System.Text.Json;
using DatasetPlatform.LoadTest.Doors;

namespace DatasetPlatform.LoadTest;

public sealed record FixedCostResult(int Samples, double MedianTo201, double MedianEndToEnd, double P95EndToEnd, string? Error);

/// <summary>
/// The fixed cost of one small upload: a 10-row Alphacast upload, sent alone, waited for until Processed (polled every 10 ms), then the
/// next; the median over the samples is what one upload costs end to end whatever its size.
/// </summary>
public static class FixedCostProbe
{
    public static async Task<FixedCostResult> RunAsync(GatewayClient gateway, long repositoryId, string runId, int samples, DateTime deadline, CancellationToken cancellationToken)
    {
        var create = await gateway.SendAsync(() => new HttpRequestMessage(HttpMethod.Post, "/datasets")
        {
            Content = GatewayClient.Form(("name", $"load-{runId}-fixed-cost"), ("repositoryId", repositoryId.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("description", "load test")),
        }, Auth.Basic, false, deadline, cancellationToken);
        if (create.Status != 201) return new FixedCostResult(0, 0, 0, 0, $"POST /datasets: {create}");
        var datasetId = JsonDocument.Parse(create.Body).RootElement.GetProperty("id").GetInt64();
        var to201 = new List<double>();
        var endToEnd = new List<double>();
        var values = new RowValues(1_000_000, 10);
        for (var k = 0; k < samples; k++)
        {
            var csv = new StringBuilder();
            await GeneratedFiles.WriteKeyedCsvAsync(new StringStream(csv), values, k, values.FirstKey(k), 10, cancellationToken);
            var watch = Stopwatch.StartNew();
            var reply = await gateway.SendAsync(() => new HttpRequestMessage(HttpMethod.Put, $"/datasets/{datasetId}/data?deleteMissingFromDB=false&onConflictUpdateDB=true")
            {
                Content = new MultipartFormDataContent { { new StringContent(AlphacastDriver.Manifest), "manifest" }, { new StringContent(csv.ToString()), "data", "small.csv" } },
            }, Auth.Basic, false, deadline, cancellationToken);
            if (reply.Status != 201) return new FixedCostResult(to201.Count, 0, 0, 0, $"upload {k}: {reply}");
            to201.Add(watch.Elapsed.TotalSeconds);
            var processId = JsonDocument.Parse(reply.Body).RootElement.GetProperty("id").GetInt64();
            while (true)
            {
                var process = await gateway.SendAsync(() => new HttpRequestMessage(HttpMethod.Get, $"/datasets/{datasetId}/processes/{processId}"), Auth.Basic, false, deadline, cancellationToken);
                var status = process.Ok ? JsonDocument.Parse(process.Body).RootElement.GetProperty("status").GetString() : null;
                if (status == "Processed") break;
                if (status == "Error" || DateTime.UtcNow > deadline) return new FixedCostResult(to201.Count, 0, 0, 0, $"upload {k} ended {status ?? "unseen"}: {process}");
                await Task.Delay(10, cancellationToken);
            }
            endToEnd.Add(watch.Elapsed.TotalSeconds);
        }
        return new FixedCostResult(samples, Stats.Percentile(to201, 50), Stats.Percentile(endToEnd, 50), Stats.Percentile(endToEnd, 95), null);
    }

    /// <summary>Collects what the generator writes (10 rows) as text.</summary>
    private sealed class StringStream(StringBuilder target) : MemoryStream
    {
        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            target.Append(Encoding.UTF8.GetString(buffer.Span));
            await Task.CompletedTask;
        }
    }
}

public static class Stats
{
    /// <summary>Nearest-rank percentile (0 for no values).</summary>
    public static double Percentile(IReadOnlyCollection<double> values, double percent)
    {
        if (values.Count == 0) return 0;
        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(percent / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}
