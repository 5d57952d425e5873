using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using DatasetPlatform.Tests.Infrastructure;

namespace DatasetPlatform.Tests;

/// <summary>Seed 004: upload with dialect sniffing and type inference, versions, download of any version, quality, list, delete.</summary>
[Collection(nameof(PlatformCollection))]
public sealed class VersionedDatasetTests(PlatformFixture platform)
{
    private HttpClient Bearer()
    {
        var http = platform.RawClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", platform.AdminKey);
        return http;
    }

    private async Task<string> ProjectAsync() =>
        (await platform.Client().GetJsonAsync($"/repositories/{await platform.Client().CreateRepositoryAsync()}")).GetProperty("id").GetInt64().ToString();

    private static MultipartFormDataContent Form(string? projectId, string name, byte[] file, string fileName = "data.csv", string? description = "d")
    {
        var content = new MultipartFormDataContent();
        if (projectId is not null) content.Add(new StringContent(projectId), "project_id");
        content.Add(new StringContent(name), "name");
        if (description is not null) content.Add(new StringContent(description), "description");
        content.Add(new ByteArrayContent(file), "file", fileName);
        return content;
    }

    private async Task<JsonElement> UploadAsync(string projectId, byte[] file, string name = "ds")
    {
        var response = await Bearer().PostAsync("/api/datasets/upload", Form(projectId, name + Guid.NewGuid().ToString("N")[..6], file));
        return await ApiClient.ExpectJsonAsync(response, HttpStatusCode.Created);
    }

    private async Task<Dictionary<string, string>> DtypesAsync(string datasetId)
    {
        var columns = await ApiClient.ExpectJsonAsync(await Bearer().GetAsync($"/api/datasets/{datasetId}/columns"), HttpStatusCode.OK);
        return columns.GetProperty("columns").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!, c => c.GetProperty("dtype").GetString()!);
    }

    private async Task<string> DownloadAsync(string datasetId, string query = "")
    {
        var response = await Bearer().GetAsync($"/api/datasets/{datasetId}/download{query}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    [Fact]
    public async Task Upload_infers_types_over_the_whole_file_and_reports_quality()
    {
        var project = await ProjectAsync();
        var csv = new StringBuilder("id,amount,merchant,is_fraud,when,note\n");
        for (var i = 0; i < 300; i++) csv.Append($"{i},{i * 1.5},{(i % 3 == 0 ? "ACME" : "Luxury")},{(i % 2 == 0 ? "true" : "false")},2025-10-{1 + i % 28:00},n{i}\n");
        csv.Append("300,7,ACME,true,2025-11-01,late text\n");
        var created = await UploadAsync(project, Encoding.UTF8.GetBytes(csv.ToString()));
        var id = created.GetProperty("dataset_id").GetString()!;
        Assert.Equal(id, created.GetProperty("id").GetString());
        Assert.True(Guid.TryParse(created.GetProperty("dataset_version_id").GetString(), out _));
        Assert.True(Guid.TryParse(created.GetProperty("artifact_id").GetString(), out _));
        Assert.True(created.GetProperty("quality").GetProperty("overall_score").GetDouble() > 0);

        var dtypes = await DtypesAsync(id);
        Assert.Equal("int64", dtypes["id"]);
        Assert.Equal("float64", dtypes["amount"]);
        Assert.Equal("category", dtypes["merchant"]);
        Assert.Equal("bool", dtypes["is_fraud"]);
        Assert.Equal("datetime64", dtypes["when"]);
        Assert.Equal("object", dtypes["note"]);

        var detail = await ApiClient.ExpectJsonAsync(await Bearer().GetAsync($"/api/datasets/{id}"), HttpStatusCode.OK);
        Assert.Equal(301, detail.GetProperty("dataset").GetProperty("rows").GetInt64());
        Assert.Equal(6, detail.GetProperty("dataset").GetProperty("columns").GetInt32());
        var preview = detail.GetProperty("preview");
        Assert.Equal(20, preview.GetArrayLength());
        Assert.Equal(JsonValueKind.Number, preview[1].GetProperty("amount").ValueKind);
        Assert.Equal(1.5, preview[1].GetProperty("amount").GetDouble());
        Assert.Equal(JsonValueKind.False, preview[1].GetProperty("is_fraud").ValueKind);
        Assert.Equal(JsonValueKind.Null, detail.GetProperty("preview_error").ValueKind);

        var quality = await ApiClient.ExpectJsonAsync(await Bearer().GetAsync($"/api/datasets/{id}/quality"), HttpStatusCode.OK);
        var checks = quality.GetProperty("quality").GetProperty("checks").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!);
        Assert.True(checks["missing_values"].GetProperty("passed").GetBoolean());
        Assert.True(checks["duplicate_rows"].GetProperty("passed").GetBoolean());
        Assert.Equal("0 duplicates (0%)", checks["duplicate_rows"].GetProperty("details").GetString());
    }

    [Theory]
    [InlineData("semicolon-latin1")]
    [InlineData("utf8-bom")]
    [InlineData("utf16-bom")]
    [InlineData("tab")]
    [InlineData("pipe-quoted-newlines")]
    public async Task Dialects_are_sniffed(string dialect)
    {
        byte[] file = dialect switch
        {
            "semicolon-latin1" => Encoding.Latin1.GetBytes("ciudad;población;país\nBogotá;7.9;Colombia\nSão Paulo;12.3;Brasil\nMünchen;1.5;Deutschland\n"),
            "utf8-bom" => [.. Encoding.UTF8.GetPreamble(), .. Encoding.UTF8.GetBytes("ciudad,población,país\nBogotá,7.9,Colombia\nSão Paulo,12.3,Brasil\nMünchen,1.5,Deutschland\n")],
            "utf16-bom" => [.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes("ciudad,población,país\nBogotá,7.9,Colombia\nSão Paulo,12.3,Brasil\nMünchen,1.5,Deutschland\n")],
            "tab" => Encoding.UTF8.GetBytes("ciudad\tpoblación\tpaís\nBogotá\t7.9\tColombia\nSão Paulo\t12.3\tBrasil\nMünchen\t1.5\tDeutschland\n"),
            _ => Encoding.UTF8.GetBytes("ciudad|población|país\n\"Bogotá\nD.C.\"|7.9|Colombia\nSão Paulo|12.3|\"Bra|sil\"\nMünchen|1.5|Deutschland\n"),
        };
        var created = await UploadAsync(await ProjectAsync(), file);
        var id = created.GetProperty("dataset_id").GetString()!;
        Assert.Equal(["ciudad", "población", "país"], (await DtypesAsync(id)).Keys);
        Assert.Equal("float64", (await DtypesAsync(id))["población"]);
        var csv = await DownloadAsync(id);
        Assert.StartsWith("ciudad,población,país\n", csv);
        Assert.Contains("München,1.5,Deutschland", csv);
        if (dialect == "pipe-quoted-newlines")
        {
            Assert.Contains("\"Bogotá\nD.C.\",7.9,Colombia", csv);
            Assert.Contains("São Paulo,12.3,Bra|sil", csv);
        }
    }

    [Fact]
    public async Task A_file_without_a_header_gets_column_names()
    {
        var created = await UploadAsync(await ProjectAsync(), Encoding.UTF8.GetBytes("1,2.5,x\n2,3.5,y\n3,4.5,x\n"));
        var dtypes = await DtypesAsync(created.GetProperty("dataset_id").GetString()!);
        Assert.Equal(["column_1", "column_2", "column_3"], dtypes.Keys);
        Assert.Equal("int64", dtypes["column_1"]);
        Assert.Equal("column_1,column_2,column_3\n1,2.5,x\n2,3.5,y\n3,4.5,x\n", await DownloadAsync(created.GetProperty("dataset_id").GetString()!));
    }

    [Fact]
    public async Task Versions_are_numbered_immutable_and_each_stays_downloadable()
    {
        var project = await ProjectAsync();
        var created = await UploadAsync(project, Encoding.UTF8.GetBytes("a,b\n1,x\n2,y\n"));
        var id = created.GetProperty("dataset_id").GetString()!;
        var content = new MultipartFormDataContent
        {
            { new StringContent("Added rows and a column"), "description" },
            { new ByteArrayContent(Encoding.UTF8.GetBytes("a,b,c\n1,x,0.5\n2,y,1.5\n3,z,2.5\n")), "file", "v1.csv" },
        };
        var v1 = await ApiClient.ExpectJsonAsync(await Bearer().PostAsync($"/api/datasets/{id}/versions", content), HttpStatusCode.Created);
        Assert.Equal(1, v1.GetProperty("version").GetInt32());
        Assert.Equal(3, v1.GetProperty("row_count").GetInt64());
        Assert.Equal(3, v1.GetProperty("column_count").GetInt32());

        var list = await ApiClient.ExpectJsonAsync(await Bearer().GetAsync($"/api/datasets/{id}/versions"), HttpStatusCode.OK);
        Assert.Equal(2, list.GetProperty("total").GetInt64());
        Assert.Equal([0, 1], list.GetProperty("items").EnumerateArray().Select(v => v.GetProperty("version").GetInt32()));
        Assert.Equal("Added rows and a column", list.GetProperty("items")[1].GetProperty("description").GetString());

        Assert.Equal("a,b\n1,x\n2,y\n", await DownloadAsync(id, "?version=0"));
        Assert.Equal("a,b,c\n1,x,0.5\n2,y,1.5\n3,z,2.5\n", await DownloadAsync(id));

        var version0 = await ApiClient.ExpectJsonAsync(
            await Bearer().GetAsync($"/api/dataset-versions/{list.GetProperty("items")[0].GetProperty("id").GetString()}"), HttpStatusCode.OK);
        Assert.Equal(2, version0.GetProperty("columns").GetArrayLength());
        Assert.Equal(0, version0.GetProperty("version").GetInt32());

        var limits = await Bearer().GetAsync($"/api/datasets/{id}/versions?limit=101");
        await ApiClient.ExpectProblemAsync(limits, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task List_searches_sorts_and_pages_and_rejects_bad_parameters()
    {
        var project = await ProjectAsync();
        var marker = Guid.NewGuid().ToString("N")[..8];
        foreach (var (name, rows) in new[] { ("alpha", 3), ("beta", 1), ("gamma", 2) })
        {
            var csv = "x\n" + string.Concat(Enumerable.Range(0, rows).Select(i => $"{i}\n"));
            await ApiClient.ExpectJsonAsync(await Bearer().PostAsync("/api/datasets/upload", Form(project, $"{name}-{marker}", Encoding.UTF8.GetBytes(csv))), HttpStatusCode.Created);
        }
        var page = await ApiClient.ExpectJsonAsync(
            await Bearer().GetAsync($"/api/datasets?project_id={project}&search={marker}&sort_field=rows&sort_direction=asc&limit=2"), HttpStatusCode.OK);
        Assert.Equal(3, page.GetProperty("total").GetInt64());
        Assert.Equal(2, page.GetProperty("limit").GetInt32());
        Assert.Equal([$"beta-{marker}", $"gamma-{marker}"], page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("name").GetString()));
        Assert.Equal(1, page.GetProperty("items")[0].GetProperty("rows").GetInt64());

        foreach (var bad in new[] { "limit=0", "limit=501", "offset=-1", "sort_field=size", "sort_direction=up" })
            await ApiClient.ExpectProblemAsync(await Bearer().GetAsync($"/api/datasets?{bad}"), HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task An_oversized_upload_is_a_413_and_leaves_nothing_behind()
    {
        var project = await ProjectAsync();
        var name = "huge-" + Guid.NewGuid().ToString("N")[..8];
        var big = new byte[(int)(PlatformFixture.MaxUploadBytes + 10)];
        Array.Fill(big, (byte)'1');
        var response = await Bearer().PostAsync("/api/datasets/upload", Form(project, name, big));
        await ApiClient.ExpectProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        var list = await ApiClient.ExpectJsonAsync(await Bearer().GetAsync($"/api/datasets?search={name}"), HttpStatusCode.OK);
        Assert.Equal(0, list.GetProperty("total").GetInt64());
        await using var connection = new Npgsql.NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT count(*) FROM dp.staged_files f JOIN dp.datasets d ON d.id = f.dataset_id WHERE d.name = @name", connection);
        command.Parameters.AddWithValue("name", name);
        Assert.Equal(0L, (long)(await command.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task Delete_removes_the_dataset_and_alphacast_sees_the_same_datasets()
    {
        var created = await UploadAsync(await ProjectAsync(), Encoding.UTF8.GetBytes("a,b\n1,2\n"));
        var id = created.GetProperty("dataset_id").GetString()!;
        var detail = await ApiClient.ExpectJsonAsync(await Bearer().GetAsync($"/api/datasets/{id}"), HttpStatusCode.OK);
        Assert.Equal(id, detail.GetProperty("dataset").GetProperty("id").GetString());

        var deleted = await ApiClient.ExpectJsonAsync(await Bearer().DeleteAsync($"/api/datasets/{id}"), HttpStatusCode.OK);
        Assert.True(deleted.GetProperty("ok").GetBoolean());
        await ApiClient.ExpectProblemAsync(await Bearer().GetAsync($"/api/datasets/{id}"), HttpStatusCode.NotFound);
    }
}
