using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using DatasetPlatform.Tests.Infrastructure;

namespace DatasetPlatform.Tests;

/// <summary>Seed 004 analyze / compare / lineage, with every statistic recomputed here from the raw values.</summary>
[Collection(nameof(PlatformCollection))]
public sealed class DatasetInsightsTests(PlatformFixture platform)
{
    private HttpClient Bearer()
    {
        var http = platform.RawClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", platform.AdminKey);
        return http;
    }

    private async Task<string> UploadAsync(string csv)
    {
        var project = (await platform.Client().GetJsonAsync($"/repositories/{await platform.Client().CreateRepositoryAsync()}")).GetProperty("id").GetInt64();
        var content = new MultipartFormDataContent
        {
            { new StringContent(project.ToString()), "project_id" },
            { new StringContent("stats-" + Guid.NewGuid().ToString("N")[..8]), "name" },
            { new ByteArrayContent(Encoding.UTF8.GetBytes(csv)), "file", "data.csv" },
        };
        return (await ApiClient.ExpectJsonAsync(await Bearer().PostAsync("/api/datasets/upload", content), HttpStatusCode.Created)).GetProperty("dataset_id").GetString()!;
    }

    private async Task<int> AddVersionAsync(string id, string csv)
    {
        var content = new MultipartFormDataContent
        {
            { new StringContent("next"), "description" },
            { new ByteArrayContent(Encoding.UTF8.GetBytes(csv)), "file", "v.csv" },
        };
        return (await ApiClient.ExpectJsonAsync(await Bearer().PostAsync($"/api/datasets/{id}/versions", content), HttpStatusCode.Created)).GetProperty("version").GetInt32();
    }

    // ---- reference statistics (pandas / numpy definitions), written out independently of the server ----
    private static double Mean(double[] v) => v.Sum() / v.Length;
    private static double Std(double[] v) => Math.Sqrt(v.Sum(x => Math.Pow(x - Mean(v), 2)) / (v.Length - 1));
    private static double Percentile(double[] v, double q)
    {
        var s = v.Order().ToArray();
        var pos = (s.Length - 1) * q;
        var lo = (int)Math.Floor(pos);
        var hi = (int)Math.Ceiling(pos);
        return s[lo] + (s[hi] - s[lo]) * (pos - lo);
    }
    private static double Skew(double[] v)
    {
        var n = v.Length; var m = Mean(v);
        var m2 = v.Sum(x => Math.Pow(x - m, 2)) / n; var m3 = v.Sum(x => Math.Pow(x - m, 3)) / n;
        return Math.Sqrt(n * (n - 1.0)) / (n - 2.0) * m3 / Math.Pow(m2, 1.5);
    }
    private static double Kurt(double[] v)
    {
        var n = v.Length; var m = Mean(v);
        var m2 = v.Sum(x => Math.Pow(x - m, 2)) / n; var m4 = v.Sum(x => Math.Pow(x - m, 4)) / n;
        return ((n + 1.0) * (m4 / (m2 * m2) - 3) + 6) * (n - 1.0) / ((n - 2.0) * (n - 3.0));
    }
    private static long[] Hist(double[] v)
    {
        var (lo, hi) = (v.Min(), v.Max());
        var counts = new long[10];
        foreach (var x in v) counts[Math.Min((int)((x - lo) / (hi - lo) * 10), 9)]++;
        return counts;
    }
    private static double Pearson(double[] a, double[] b)
    {
        var (ma, mb) = (Mean(a), Mean(b));
        return a.Zip(b).Sum(p => (p.First - ma) * (p.Second - mb)) / Math.Sqrt(a.Sum(x => Math.Pow(x - ma, 2)) * b.Sum(x => Math.Pow(x - mb, 2)));
    }

    [Fact]
    public void The_reference_kurtosis_matches_the_documented_example() => Assert.Equal(1.5, Kurt([1, 2, 2, 3]), 12);

    [Fact]
    public async Task Analyze_matches_pandas_conventions()
    {
        double?[] x = [1, 2, 2, 3, 4, 100, null, 7.5, 2, 3];
        double[] y = [10, 20, 20, 30, 40, 50, 60, 70, 80, 95];
        string[] cat = ["a", "a", "b", "a", "c", "b", "a", "c", "a", "b"];
        var csv = new StringBuilder("x,y,cat\n");
        for (var i = 0; i < y.Length; i++) csv.Append($"{x[i]?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? ""},{y[i]},{cat[i]}\n");
        csv.Append("1,10,a\n"); // an exact duplicate of the first row
        var id = await UploadAsync(csv.ToString());

        var response = await ApiClient.ExpectJsonAsync(await Bearer().GetAsync($"/api/datasets/{id}/analyze"), HttpStatusCode.OK);
        Assert.Equal(JsonValueKind.Null, response.GetProperty("error").ValueKind);
        var statistics = response.GetProperty("statistics");
        Assert.Equal(11, statistics.GetProperty("row_count").GetInt64());
        Assert.Equal(1, statistics.GetProperty("duplicate_rows").GetInt64());

        var xs = x.Where(v => v is not null).Select(v => v!.Value).Append(1).ToArray();
        var ys = y.Append(10).ToArray();
        var sx = statistics.GetProperty("columns").GetProperty("x");
        Assert.Equal("float64", sx.GetProperty("type").GetString());
        Assert.Equal(1, sx.GetProperty("missing").GetInt64());
        Assert.Equal(100.0 / 11, sx.GetProperty("missing_percent").GetDouble(), 4);
        Assert.Equal(xs.Distinct().Count(), sx.GetProperty("unique").GetInt64());
        Assert.Equal(xs.Min(), sx.GetProperty("min").GetDouble());
        Assert.Equal(xs.Max(), sx.GetProperty("max").GetDouble());
        Assert.Equal(Mean(xs), sx.GetProperty("mean").GetDouble(), 9);
        Assert.Equal(Std(xs), sx.GetProperty("std").GetDouble(), 9);
        Assert.Equal(Percentile(xs, 0.25), sx.GetProperty("percentiles").GetProperty("p25").GetDouble(), 9);
        Assert.Equal(Percentile(xs, 0.5), sx.GetProperty("percentiles").GetProperty("p50").GetDouble(), 9);
        Assert.Equal(Percentile(xs, 0.75), sx.GetProperty("percentiles").GetProperty("p75").GetDouble(), 9);
        var iqr = Percentile(xs, 0.75) - Percentile(xs, 0.25);
        Assert.Equal(iqr, sx.GetProperty("iqr").GetDouble(), 9);
        Assert.Equal(Skew(xs), sx.GetProperty("skewness").GetDouble(), 9);
        Assert.Equal(Kurt(xs), sx.GetProperty("kurtosis").GetDouble(), 9);
        Assert.Equal(xs.Count(v => v < Percentile(xs, 0.25) - 1.5 * iqr || v > Percentile(xs, 0.75) + 1.5 * iqr), sx.GetProperty("outlier_count").GetInt64());
        Assert.Equal(Hist(xs), sx.GetProperty("histogram").GetProperty("counts").EnumerateArray().Select(e => e.GetInt64()));
        var edges = sx.GetProperty("histogram").GetProperty("bin_edges").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        Assert.Equal(11, edges.Length);
        Assert.Equal(xs.Min(), edges[0]);
        Assert.Equal(xs.Max(), edges[10]);

        var sy = statistics.GetProperty("columns").GetProperty("y");
        Assert.Equal("int64", sy.GetProperty("type").GetString());
        Assert.Equal(Skew(ys), sy.GetProperty("skewness").GetDouble(), 9);
        Assert.Equal(Kurt(ys), sy.GetProperty("kurtosis").GetDouble(), 9);

        var sc = statistics.GetProperty("columns").GetProperty("cat");
        Assert.Equal("category", sc.GetProperty("type").GetString());
        var top = sc.GetProperty("top_values");
        Assert.Equal(cat.Append("a").Count(c => c == "a"), top.GetProperty("a").GetInt64());
        Assert.Equal("a", top.EnumerateObject().First().Name);

        // Pearson over the rows where both are present.
        var pairs = x.Append(1).Zip(ys).Where(p => p.First is not null).ToArray();
        var expected = Pearson([.. pairs.Select(p => p.First!.Value)], [.. pairs.Select(p => p.Second)]);
        Assert.Equal(expected, statistics.GetProperty("correlations").GetProperty("x").GetProperty("y").GetDouble(), 9);
        Assert.Equal(1.0, statistics.GetProperty("correlations").GetProperty("y").GetProperty("y").GetDouble());

        // Cached per version: the same answer again.
        var again = await ApiClient.ExpectJsonAsync(await Bearer().GetAsync($"/api/datasets/{id}/analyze"), HttpStatusCode.OK);
        Assert.Equal(statistics.GetProperty("columns").GetProperty("x").GetProperty("mean").GetDouble(),
            again.GetProperty("statistics").GetProperty("columns").GetProperty("x").GetProperty("mean").GetDouble());
    }

    private static double ExpectedPsi(double[] v1, double[] v2)
    {
        var edges = Enumerable.Range(1, 9).Select(i => Percentile(v1, i / 10.0)).Distinct().ToArray();
        double[] Shares(double[] v)
        {
            var counts = new double[edges.Length + 1];
            foreach (var x in v) counts[edges.Count(e => x >= e)]++;
            return [.. counts.Select(c => c / v.Length)];
        }
        return Shares(v1).Zip(Shares(v2)).Sum(p => (Math.Max(p.Second, 0.0001) - Math.Max(p.First, 0.0001)) * Math.Log(Math.Max(p.Second, 0.0001) / Math.Max(p.First, 0.0001)));
    }

    // moved: values below it move from the first decile bin into the second (80 -> PSI about 0.17);
    // offset: added to every value (400 empties four bins -> PSI far above 0.25).
    [Theory]
    [InlineData(0, 0, "low")]
    [InlineData(80, 0, "moderate")]
    [InlineData(0, 400, "high")]
    public async Task Compare_reports_psi_and_shift_level(int moved, int offset, string level)
    {
        var v1 = Enumerable.Range(1, 1000).Select(i => (double)i).ToArray();
        var v2 = v1.Select(v => (v < moved ? v + 100 : v) + offset).ToArray();
        var id = await UploadAsync("amount,group\n" + string.Concat(v1.Select((v, i) => $"{v},{(i % 2 == 0 ? "a" : "b")}\n")));
        await AddVersionAsync(id, "amount,group,extra\n" + string.Concat(v2.Select((v, i) => $"{v},{(i % 3 == 0 ? "a" : "b")},1\n")));

        var compare = await ApiClient.ExpectJsonAsync(await Bearer().GetAsync($"/api/datasets/{id}/compare?v1=0&v2=1"), HttpStatusCode.OK);
        var summary = compare.GetProperty("summary");
        Assert.Equal(1000, summary.GetProperty("v1_rows").GetInt64());
        Assert.Equal(0, summary.GetProperty("rows_diff").GetInt64());
        Assert.Equal(["extra"], summary.GetProperty("columns_added").EnumerateArray().Select(e => e.GetString()));
        Assert.Empty(summary.GetProperty("columns_removed").EnumerateArray());

        var amount = compare.GetProperty("column_diffs").GetProperty("amount");
        Assert.Equal("numeric", amount.GetProperty("type").GetString());
        var psi = amount.GetProperty("psi").GetDouble();
        Assert.Equal(ExpectedPsi(v1, v2), psi, 9);
        Assert.Equal(level, amount.GetProperty("shift_level").GetString());
        Assert.Equal(Mean(v1), amount.GetProperty("v1_mean").GetDouble(), 9);
        Assert.Equal((Mean(v2) - Mean(v1)) / Math.Abs(Mean(v1)) * 100, amount.GetProperty("mean_shift_pct").GetDouble(), 9);
        Assert.True(level != "moderate" || psi is >= 0.1 and <= 0.25, $"psi {psi}");

        var group = compare.GetProperty("column_diffs").GetProperty("group");
        Assert.Equal("categorical", group.GetProperty("type").GetString());
        Assert.Equal(0.5, group.GetProperty("category_changes").GetProperty("a").GetProperty("v1_share").GetDouble(), 9);
        Assert.Equal(334 / 1000.0, group.GetProperty("category_changes").GetProperty("a").GetProperty("v2_share").GetDouble(), 9);

        await ApiClient.ExpectProblemAsync(await Bearer().GetAsync($"/api/datasets/{id}/compare?v1=0"), HttpStatusCode.BadRequest);
        await ApiClient.ExpectProblemAsync(await Bearer().GetAsync($"/api/datasets/{id}/compare?v1=0&v2=9"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Lineage_traces_experiments_models_deployments_and_the_files_behind_each_version()
    {
        var id = await UploadAsync("a,b\n1,2\n3,4\n");
        await AddVersionAsync(id, "a,b\n1,2\n3,5\n");
        var versions = await ApiClient.ExpectJsonAsync(await Bearer().GetAsync($"/api/datasets/{id}/versions"), HttpStatusCode.OK);
        var v0 = versions.GetProperty("items")[0].GetProperty("id").GetString();

        var experiment = await ApiClient.ExpectJsonAsync(await Bearer().PostAsJsonAsync("/api/experiments",
            new { dataset_version_id = v0, name = "AutoML Run 1", target_column = "b", problem_type = "regression", status = "succeeded" }), HttpStatusCode.Created);
        var model = await ApiClient.ExpectJsonAsync(await Bearer().PostAsJsonAsync("/api/models",
            new { experiment_id = experiment.GetProperty("id").GetString(), name = "GBM_1", algorithm = "GBM" }), HttpStatusCode.Created);
        await ApiClient.ExpectJsonAsync(await Bearer().PostAsJsonAsync("/api/deployments",
            new { model_id = model.GetProperty("id").GetString(), name = "GBM_1", stage = "production", is_active = true }), HttpStatusCode.Created);

        var lineage = await ApiClient.ExpectJsonAsync(await Bearer().GetAsync($"/api/datasets/{id}/lineage"), HttpStatusCode.OK);
        var e = lineage.GetProperty("experiments").EnumerateArray().Single();
        Assert.Equal("AutoML Run 1", e.GetProperty("name").GetString());
        Assert.Equal(1, e.GetProperty("model_count").GetInt64());
        Assert.Equal(0, e.GetProperty("version").GetInt32());
        Assert.Equal("GBM", lineage.GetProperty("models").EnumerateArray().Single().GetProperty("algorithm").GetString());
        var deployment = lineage.GetProperty("deployments").EnumerateArray().Single();
        Assert.Equal("production", deployment.GetProperty("stage").GetString());
        Assert.True(deployment.GetProperty("is_active").GetBoolean());
        var upstream = lineage.GetProperty("upstream").EnumerateArray().ToList();
        Assert.Equal([0, 1], upstream.Select(u => u.GetProperty("version").GetInt32()));
        Assert.All(upstream, u => Assert.Equal("version", u.GetProperty("source").GetString()));
        Assert.Equal("v.csv", upstream[1].GetProperty("file_name").GetString());

        await ApiClient.ExpectProblemAsync(await Bearer().PostAsJsonAsync("/api/models", new { experiment_id = Guid.NewGuid(), name = "x" }), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task An_alphacast_upload_is_a_version_seen_by_the_versioned_api()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        await api.UploadAndWaitAsync(datasetId, "Date,Country,Value\n2020-01-01,USA,1\n2020-01-01,ARG,2\n", ApiClient.DateCountryManifest);
        var versions = await ApiClient.ExpectJsonAsync(await Bearer().GetAsync($"/api/datasets/{datasetId}/versions"), HttpStatusCode.OK);
        Assert.Equal(1, versions.GetProperty("total").GetInt64());
        var quality = await ApiClient.ExpectJsonAsync(await Bearer().GetAsync($"/api/datasets/{datasetId}/quality"), HttpStatusCode.OK);
        Assert.True(quality.GetProperty("quality").GetProperty("overall_score").GetDouble() > 0);
        var analysis = await ApiClient.ExpectJsonAsync(await Bearer().GetAsync($"/api/datasets/{datasetId}/analyze"), HttpStatusCode.OK);
        Assert.Equal(1.5, analysis.GetProperty("statistics").GetProperty("columns").GetProperty("Value").GetProperty("mean").GetDouble());
    }
}
