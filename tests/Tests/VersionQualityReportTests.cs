using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using DatasetPlatform.Grains.Analysis;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Grains.Storage;
using DatasetPlatform.Tests.Infrastructure;
using Npgsql;

namespace DatasetPlatform.Tests;

/// <summary>
/// Seed 004's quality report of a new version, computed from figures gathered during the COPY (whole-row hashes, NULL counts,
/// constant columns): duplicates follow the column types' equality, and the report is the one the database's own scan gives.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class VersionQualityReportTests(PlatformFixture platform)
{
    private async Task<(string DatasetId, JsonElement Quality)> UploadAsync(string csv)
    {
        var project = (await platform.Client().GetJsonAsync($"/repositories/{await platform.Client().CreateRepositoryAsync()}")).GetProperty("id").GetInt64().ToString();
        var http = platform.RawClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", platform.AdminKey);
        using var form = new MultipartFormDataContent
        {
            { new StringContent(project), "project_id" },
            { new StringContent("q" + Guid.NewGuid().ToString("N")[..8]), "name" },
            { new ByteArrayContent(Encoding.UTF8.GetBytes(csv)), "file", "data.csv" },
        };
        var created = await ApiClient.ExpectJsonAsync(await http.PostAsync("/api/datasets/upload", form), HttpStatusCode.Created);
        var id = created.GetProperty("dataset_id").GetString()!;
        var quality = await ApiClient.ExpectJsonAsync(await http.GetAsync($"/api/datasets/{id}/quality"), HttpStatusCode.OK);
        return (id, quality.GetProperty("quality"));
    }

    private static Dictionary<string, JsonElement> Checks(JsonElement quality) =>
        quality.GetProperty("checks").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!);

    /// <summary>The report the database's own scan (count, min = max, GROUP BY over every column) gives for the current version.</summary>
    private async Task<string> ScannedReportAsync(string datasetId)
    {
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT d.id, v.version, v.columns::text, v.row_floor FROM dp.dataset_versions v JOIN dp.datasets d ON d.id = v.dataset_id AND v.version = d.current_version WHERE d.uid = @uid",
            connection);
        command.Parameters.AddWithValue("uid", Guid.Parse(datasetId));
        long id;
        int version;
        string columns;
        int floor;
        await using (var reader = await command.ExecuteReaderAsync())
        {
            Assert.True(await reader.ReadAsync());
            id = reader.GetInt64(0);
            version = reader.GetInt32(1);
            columns = reader.GetString(2);
            floor = reader.GetInt32(3);
        }
        var report = await QualityReport.ComputeAsync(connection, null, DataTables.QualifiedName(id), version, floor,
            StoredColumns.FromJson(columns), inferred: null);
        return JsonSerializer.Serialize(report);
    }

    [Fact]
    public async Task Duplicate_rows_follow_the_column_types_equality()
    {
        // Rows 2, 4 and 8 repeat rows 1, 3 and 7 as the database compares them: 1.0 = 1.00 in a float column, NULL with NULL in
        // GROUP BY, -0.0 = 0.0. Row 6 differs from row 5 only in the case of a text value, which is a different value.
        var csv = """
            id,amount,label,when,unit,nothing
            1,1.0,abc,2025-01-02,kg,
            1,1.00,abc,2025-01-02,kg,
            2,,,,kg,
            2,,,,kg,
            3,0.5,abc,2025-01-02,kg,
            3,0.5,ABC,2025-01-02,kg,
            4,0.0,x,2025-01-03,kg,
            4,-0.0,x,2025-01-03,kg,
            5,2.5,y,2025-01-04,kg,

            """;
        var (id, quality) = await UploadAsync(csv);
        var checks = Checks(quality);
        Assert.Equal("3 duplicates (33.33%)", checks["duplicate_rows"].GetProperty("details").GetString());
        Assert.False(checks["duplicate_rows"].GetProperty("passed").GetBoolean());
        Assert.Equal("Entirely empty: nothing", checks["empty_columns"].GetProperty("details").GetString());
        Assert.Equal("A single value in: unit", checks["constant_columns"].GetProperty("details").GetString());
        Assert.Equal("Max 100% missing (nothing)", checks["missing_values"].GetProperty("details").GetString());
        Assert.Equal(await ScannedReportAsync(id), JsonSerializer.Serialize(JsonSerializer.Deserialize<Quality>(quality.GetRawText())));
    }

    [Fact]
    public async Task Rows_that_differ_only_in_text_case_or_in_a_digit_are_not_duplicates()
    {
        var csv = """
            name,score,flag,day
            Alpha,1.0,true,2025-03-01
            alpha,1.0,true,2025-03-01
            Alpha,1.01,true,2025-03-01
            Alpha,1.0,false,2025-03-01
            Alpha,1.0,true,2025-03-02
            Alpha ,1.0,true,2025-03-01

            """;
        var (id, quality) = await UploadAsync(csv);
        var checks = Checks(quality);
        Assert.Equal("0 duplicates (0%)", checks["duplicate_rows"].GetProperty("details").GetString());
        Assert.True(checks["duplicate_rows"].GetProperty("passed").GetBoolean());
        Assert.Equal("No constant columns", checks["constant_columns"].GetProperty("details").GetString());
        Assert.Equal(await ScannedReportAsync(id), JsonSerializer.Serialize(JsonSerializer.Deserialize<Quality>(quality.GetRawText())));
    }
}
