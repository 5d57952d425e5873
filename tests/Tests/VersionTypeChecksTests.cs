using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using DatasetPlatform.Grains.Import;
using DatasetPlatform.Grains.Storage;
using DatasetPlatform.Tests.Infrastructure;
using Npgsql;

namespace DatasetPlatform.Tests;

/// <summary>
/// Seed 004 types a file from its first rows and checks the rest while loading it: a value further on that breaks a type
/// gives the column the type whole-file inference gives it (the load starts again), and the value loads as written.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class VersionTypeChecksTests(PlatformFixture platform)
{
    private HttpClient Bearer()
    {
        var http = platform.RawClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", platform.AdminKey);
        return http;
    }

    [Theory]
    [InlineData("7", "8", "int64", false)] // the types hold
    [InlineData("7", "", "float64", false)] // an int64 column with a gap is float64
    [InlineData("7", "2.5", "float64", false)] // the encoder refuses 2.5 as int64
    [InlineData("true", "yes", "category", true)] // the encoder would read yes as true; inference calls it text
    [InlineData("true", "", "object", false)] // a bool column with a gap is object
    [InlineData("2025-01-02", "01/02/2025", "category", false)] // a second date format: text, two distinct values
    [InlineData("", "5", "float64", false)] // empty in the first rows: the whole file decides
    [InlineData("abc", "5", "category", true)] // mixed kinds, still text: no second load, the quality report says so
    public async Task A_value_after_the_first_rows_gets_the_whole_files_type(string first, string last, string dtype, bool mixed)
    {
        var csv = new StringBuilder("i,v\n");
        for (var i = 0; i < TypeInference.PrefixRows; i++) csv.Append(i).Append(',').Append(first).Append('\n');
        csv.Append(TypeInference.PrefixRows).Append(',').Append(last).Append('\n');
        var project = (await platform.Client().GetJsonAsync($"/repositories/{await platform.Client().CreateRepositoryAsync()}")).GetProperty("id").GetInt64().ToString();
        using var form = new MultipartFormDataContent
        {
            { new StringContent(project), "project_id" },
            { new StringContent("t" + Guid.NewGuid().ToString("N")[..8]), "name" },
            { new ByteArrayContent(Encoding.UTF8.GetBytes(csv.ToString())), "file", "data.csv" },
        };
        var created = await ApiClient.ExpectJsonAsync(await Bearer().PostAsync("/api/datasets/upload", form), HttpStatusCode.Created);
        var id = created.GetProperty("dataset_id").GetString()!;

        var columns = await ApiClient.ExpectJsonAsync(await Bearer().GetAsync($"/api/datasets/{id}/columns"), HttpStatusCode.OK);
        var dtypes = columns.GetProperty("columns").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!, c => c.GetProperty("dtype").GetString()!);
        Assert.Equal("int64", dtypes["i"]);
        Assert.Equal(dtype, dtypes["v"]);

        var download = await Bearer().GetAsync($"/api/datasets/{id}/download");
        Assert.Equal(HttpStatusCode.OK, download.StatusCode);
        var lines = (await download.Content.ReadAsStringAsync()).TrimEnd('\n').Split('\n');
        Assert.Equal(TypeInference.PrefixRows + 2, lines.Length);
        Assert.Equal($"{TypeInference.PrefixRows},{last}", lines[^1]);

        var quality = await ApiClient.ExpectJsonAsync(await Bearer().GetAsync($"/api/datasets/{id}/quality"), HttpStatusCode.OK);
        var consistency = quality.GetProperty("quality").GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "type_consistency");
        Assert.Equal(mixed ? "Mixed kinds of values (read as text) in: v" : "Every column holds one kind of value",
            consistency.GetProperty("details").GetString());
    }

    [Theory]
    [InlineData("7")] // the types hold: one load
    [InlineData("2.5")] // the int64 column breaks at the last row: back to the savepoint, loaded again as float64
    public async Task A_first_version_writes_its_pages_all_visible_and_the_next_version_appends_as_usual(string last)
    {
        var csv = new StringBuilder("i,v\n");
        for (var i = 0; i < TypeInference.PrefixRows; i++) csv.Append(i).Append(",7\n");
        csv.Append(TypeInference.PrefixRows).Append(',').Append(last).Append('\n');
        var project = (await platform.Client().GetJsonAsync($"/repositories/{await platform.Client().CreateRepositoryAsync()}")).GetProperty("id").GetInt64().ToString();
        using var form = new MultipartFormDataContent
        {
            { new StringContent(project), "project_id" },
            { new StringContent("f" + Guid.NewGuid().ToString("N")[..8]), "name" },
            { new ByteArrayContent(Encoding.UTF8.GetBytes(csv.ToString())), "file", "data.csv" },
        };
        var created = await ApiClient.ExpectJsonAsync(await Bearer().PostAsync("/api/datasets/upload", form), HttpStatusCode.Created);
        var id = created.GetProperty("dataset_id").GetString()!;
        var first = await PageVisibilityAsync(id);
        var columns = await ApiClient.ExpectJsonAsync(await Bearer().GetAsync($"/api/datasets/{id}/columns"), HttpStatusCode.OK);
        Assert.Equal(last == "7" ? "int64" : "float64",
            columns.GetProperty("columns").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "v").GetProperty("dtype").GetString());

        using var next = new MultipartFormDataContent { { new StringContent("One row"), "description" }, { new ByteArrayContent(Encoding.UTF8.GetBytes("i,v\n1,2.5\n")), "file", "v1.csv" } };
        var v1 = await ApiClient.ExpectJsonAsync(await Bearer().PostAsync($"/api/datasets/{id}/versions", next), HttpStatusCode.Created);
        Assert.Equal(1, v1.GetProperty("version").GetInt32());
        var second = await PageVisibilityAsync(id);

        // FREEZE: every page of the first version all-visible; the second version's rows (and the first's, closed) are not.
        Assert.True(first.Pages > 1, $"{first.Pages} pages");
        Assert.Equal(first.Pages, first.AllVisible);
        Assert.True(second.AllVisible < second.Pages, $"{second.AllVisible} of {second.Pages} pages all-visible after the second version");
        var download = await Bearer().GetAsync($"/api/datasets/{id}/download?version=0");
        Assert.Equal(HttpStatusCode.OK, download.StatusCode);
        var lines = (await download.Content.ReadAsStringAsync()).TrimEnd('\n').Split('\n');
        Assert.Equal(TypeInference.PrefixRows + 2, lines.Length);
        Assert.Equal($"{TypeInference.PrefixRows},{last}", lines[^1]);
        Assert.Equal("i,v\n1,2.5\n", await (await Bearer().GetAsync($"/api/datasets/{id}/download")).Content.ReadAsStringAsync());
    }

    /// <summary>ANALYZE counts the dataset table's pages and its all-visible ones (the visibility map) into pg_class.</summary>
    private async Task<(int Pages, int AllVisible)> PageVisibilityAsync(string datasetUid)
    {
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        await using var find = new NpgsqlCommand("SELECT id FROM dp.datasets WHERE uid = @uid", connection);
        find.Parameters.AddWithValue("uid", Guid.Parse(datasetUid));
        var table = DataTables.QualifiedName((long)(await find.ExecuteScalarAsync())!);
        await using var command = new NpgsqlCommand($"ANALYZE {table}; SELECT relpages, relallvisible FROM pg_class WHERE oid = '{table}'::regclass", connection);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt32(0), reader.GetInt32(1));
    }
}
