using System.Text;
using System.Text.Json;
using DatasetPlatform.Grains.Import;
using DatasetPlatform.Grains.Schema;

namespace DatasetPlatform.Tests;

/// <summary>
/// JSON lines are read with a forward-only reader into one buffer per record. Each record reads as a JsonDocument reads it
/// (the way the import read them before): every field's text and every refusal of a record, with its field and reason.
/// </summary>
public sealed class JsonLinesRowSourceTests
{
    private static readonly string[] Columns = ["Prompt", "Score", "País", "Tags"];

    private static readonly string[] Lines =
    [
        """{"Prompt": "plain", "Score": 1, "País": "AR", "Tags": ["a", {"b": 1}]}""",
        """{"prompt": "case and accents: pais, SCORE", "SCORE": -1.5e3, "pais": null, " tags ": {"x": [1, 2]}}""",
        """{"Prompt": "escapes \" \\ \/ \n \t \u00e9 \ud83d\ude00", "Score": true, "País": false}""",
        """{"Prompt": "duplicate", "Prompt": "the later one", "Score": 0}""",
        """{"Pr\u006fmpt": "an escaped name", "Unknown": {"deep": [1, [2, [3]]]}, "Score": 12345678901234567890}""",
        """{}""",
        """   {"Prompt": "spaces around"}   """,
        """{"Prompt": "ünïcödé ✓ 中文", "Score": 2}""",
        """[1, 2, 3]""",
        "\"just a string\" ",
        "{\"Prompt\": \"unterminated",
        """{"Prompt": "trailing"} garbage""",
        """{"Prompt": 1,}""",
        """{"Score": 3, "Colour": "red", "Prompt": "unknown field first"}""",
        """{"Prompt": null, "Score": null}""",
    ];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Each_record_reads_as_a_JsonDocument_reads_it(bool strict)
    {
        var limits = new ImportLimits { MaxFieldChars = 40 };
        var file = string.Join("\n", Lines.Append("""{"Prompt": "a value longer than the forty characters allowed here"}""")) + "\n";
        using var source = (await RowSourceFactory.OpenAsync(new MemoryStream(Encoding.UTF8.GetBytes(file)), Columns, strict, limits, CancellationToken.None))!;
        var expected = file.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => Expected(line, strict, limits)).ToList();

        var record = 0;
        while (await source.ReadAsync())
        {
            var (fields, error) = expected[record++];
            Assert.Equal(error, source.RecordError is { } e ? $"{e.Column}: {e.Message}" : null);
            if (error is null) Assert.Equal(fields, Columns.Select((_, i) => source.GetField(i).ToString()));
        }
        Assert.Equal(expected.Count, record);
    }

    [Fact]
    public async Task A_record_with_more_fields_than_a_dataset_can_have_is_refused_and_the_next_one_reads()
    {
        var wide = "{" + string.Join(", ", Enumerable.Range(0, DatasetLimits.MaxColumns + 1).Select(i => $"\"f{i}\": {i}")) + "}";
        var file = wide + "\n{\"Prompt\": \"next\"}\n";
        using var source = (await RowSourceFactory.OpenAsync(new MemoryStream(Encoding.UTF8.GetBytes(file)), Columns, false, new ImportLimits(), CancellationToken.None))!;
        Assert.True(await source.ReadAsync());
        Assert.Contains($"more than {DatasetLimits.MaxColumns} fields", source.RecordError?.Message);
        Assert.True(await source.ReadAsync());
        Assert.Null(source.RecordError);
        Assert.Equal("next", source.GetField(0).ToString());
        Assert.False(await source.ReadAsync());
    }

    /// <summary>The record as the import read it with JsonDocument: each column's text, or "field: reason" when it is refused.</summary>
    private static (string[] Fields, string? Error) Expected(string line, bool strict, ImportLimits limits)
    {
        var fields = new string[Columns.Length];
        Array.Fill(fields, "");
        try
        {
            using var document = JsonDocument.Parse(line);
            if (document.RootElement.ValueKind != JsonValueKind.Object) return (fields, ": the line is not a JSON object");
            string? error = null;
            foreach (var property in document.RootElement.EnumerateObject())
            {
                var column = Array.FindIndex(Columns, c => ColumnNames.Key(c) == ColumnNames.Key(property.Name));
                if (column < 0)
                {
                    if (strict) error ??= $"{property.Name}: unknown field '{property.Name}'";
                    continue;
                }
                var value = property.Value.ValueKind switch
                {
                    JsonValueKind.String => property.Value.GetString()!,
                    JsonValueKind.Null => "",
                    _ => property.Value.GetRawText(),
                };
                if (value.Length > limits.MaxFieldChars)
                    error ??= $"{property.Name}: the value is {value.Length} characters long; the limit is {limits.MaxFieldChars} (MAX_FIELD_CHARS)";
                fields[column] = value;
            }
            return (fields, error);
        }
        catch (JsonException e)
        {
            return (fields, $": invalid JSON: {e.Message}");
        }
    }
}
