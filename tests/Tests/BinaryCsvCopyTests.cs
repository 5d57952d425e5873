using System.Globalization;
using System.Text;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Grains.Storage;
using DatasetPlatform.Tests.Infrastructure;
using Npgsql;
using NpgsqlTypes;

namespace DatasetPlatform.Tests;

/// <summary>
/// A download formatted by the service from binary COPY (<see cref="BinaryCsvCopy"/>, <see cref="PgText"/>) is byte for byte
/// what PostgreSQL's own COPY ... (FORMAT csv) sends for the same rows: the same values are read both ways from a real server
/// and compared, for doubles (edge cases, every power of two, random bit patterns, money-like decimals), dates and
/// timestamps over PostgreSQL's whole range (BC, after 9999, infinity), integers, and texts that need quoting.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class BinaryCsvCopyTests(PlatformFixture platform)
{
    [Fact]
    public async Task Doubles_read_as_the_server_writes_them()
    {
        var random = new Random(20261201);
        var values = new List<double?>
        {
            null, 0.0, -0.0, double.NaN, double.PositiveInfinity, double.NegativeInfinity, double.Epsilon, -double.Epsilon,
            double.MaxValue, double.MinValue, 1e-4, -1e-4, 9.999999999999999e-5, 1e-5, 1e14, 1e15, 999999999999999.9,
            999999999999999.0, 123456789012345.6, 0.1, 0.2, 0.3, 1.0 / 3, 2.0 / 3, 100, 1234.5, 0.0001234, 4503599627370495.5,
            4503599627370496.0, 9007199254740993.0, 1.5e300, 2.5e-300, 5e-324, 0.30000000000000004, 12345.678901,
        };
        for (var e = -1074; e <= 1023; e++) values.Add(Math.ScaleB(1.0, e));
        for (var i = 0; i < 200_000; i++)
        {
            var bits = random.NextInt64() ^ ((long)random.Next() << 33);
            values.Add(BitConverter.Int64BitsToDouble(bits));
        }
        for (var i = 0; i < 200_000; i++)
        {
            // What datasets hold: decimals of a few digits at every scale, and their neighbours.
            var decimals = random.Next(0, 12);
            var value = Math.Round((random.NextDouble() - 0.3) * Math.Pow(10, random.Next(-6, 16)), decimals);
            values.Add(i % 3 == 0 ? Math.BitIncrement(value) : i % 3 == 1 ? Math.BitDecrement(value) : value);
        }

        await AssertSameAsServerAsync("double precision", NpgsqlDbType.Double, values.Cast<object?>().ToList());
    }

    [Fact]
    public async Task Dates_and_timestamps_read_as_the_server_writes_them()
    {
        var random = new Random(7);
        // Days from 2000-01-01, over PostgreSQL's range (4714-11-24 BC to 5874897-12-31).
        const int firstDay = -2451545, lastDay = 2147483494 - 2451545 - 1;
        var days = new List<object?> { null, int.MaxValue, int.MinValue, 0, -1, firstDay, lastDay, -730119, -730120, 2921939, 2921940 };
        for (var i = 0; i < 20_000; i++) days.Add(random.Next(firstDay, lastDay));
        for (var i = 0; i < 20_000; i++) days.Add(random.Next(-800_000, 3_000_000));
        await AssertSameAsServerAsync("date", NpgsqlDbType.Integer, days,
            "CASE raw WHEN 2147483647 THEN 'infinity'::date WHEN -2147483648 THEN '-infinity'::date ELSE DATE '2000-01-01' + raw END");

        // Microseconds from 2000-01-01 00:00, over PostgreSQL's range (4714-11-24 BC to 294276 AD).
        const long firstMicro = -211813488000000000L, lastMicro = 9223371331200000000L - 1;
        var micros = new List<object?> { null, long.MaxValue, long.MinValue, 0L, -1L, 1L, 1_500_000L, -63_113_904_000_000_001L, firstMicro, lastMicro };
        for (var i = 0; i < 20_000; i++) micros.Add(random.NextInt64(firstMicro, lastMicro));
        for (var i = 0; i < 20_000; i++)
        {
            // Whole seconds, milliseconds and microseconds around our era.
            var micro = random.NextInt64(-70_000_000_000_000_000L, 300_000_000_000_000_000L);
            micros.Add(i % 3 == 0 ? micro / 1_000_000 * 1_000_000 : i % 3 == 1 ? micro / 1000 * 1000 : micro);
        }
        await AssertSameAsServerAsync("timestamp", NpgsqlDbType.Bigint, micros,
            "CASE raw WHEN 9223372036854775807 THEN 'infinity'::timestamp WHEN -9223372036854775808 THEN '-infinity'::timestamp " +
            "ELSE TIMESTAMP '2000-01-01' + make_interval(days => (raw / 86400000000)::int) + (raw % 86400000000) * interval '1 microsecond' END");
    }

    [Fact]
    public async Task Integers_and_texts_read_as_the_server_writes_them()
    {
        await AssertSameAsServerAsync("bigint", NpgsqlDbType.Bigint, [null, 0L, -1L, long.MaxValue, long.MinValue, 1234567890123L]);
        await AssertSameAsServerAsync("integer", NpgsqlDbType.Integer, [null, 0, -1, int.MaxValue, int.MinValue, 42]);
        await AssertSameAsServerAsync("smallint", NpgsqlDbType.Integer, [null, 0, -1, (int)short.MaxValue, (int)short.MinValue, 42], "raw::smallint");
        object?[] texts = [null, "", " ", "plain", "a,b", "a\tb", "say \"hi\"", "\"", "\"\"", "line\nbreak", "cr\rhere", "\\.", "\\", ".",
            "naïve café", "日本語", "emoji 🎉", " padded ", "NULL", "a\"b,c\nd"];
        await AssertSameAsServerAsync("text", NpgsqlDbType.Text, [.. texts]);
        // One column alone: \. on a line would end the data, so the server quotes it there.
        await AssertSameAsServerAsync("text", NpgsqlDbType.Text, [.. texts], alone: true);
        // Booleans download as true/false: the reader projects them as text.
        await AssertSameAsServerAsync("boolean", NpgsqlDbType.Integer, [null, 0, 1], "(raw = 1)::text");
    }

    private Task AssertSameAsServerAsync(string sqlType, NpgsqlDbType dbType, IReadOnlyList<object?> values, bool alone = false) =>
        AssertSameAsServerAsync(sqlType, dbType, values, "raw", alone);

    [Fact]
    public async Task A_download_formatted_by_the_service_is_the_one_the_server_formats()
    {
        var connectionString = await platform.CreateDatabaseAsync();
        const string manifest = """[{"sourceName":"Date","dataType":"Date","isEntity":true,"dateFormat":"%Y-%m-%d"},{"sourceName":"Country","dataType":"String","isEntity":true},{"sourceName":"Label","dataType":"String"},{"sourceName":"Value","dataType":"Decimal"},{"sourceName":"Count","dataType":"Integer"},{"sourceName":"Small","dataType":"Short Integer"},{"sourceName":"Flag","dataType":"Boolean"}]""";
        var csv = new StringBuilder("Date,Country,Label,Value,Count,Small,Flag\n");
        for (var i = 0; i < 2000; i++)
            csv.Append(CultureInfo.InvariantCulture,
                $"2020-01-{1 + i % 28:D2},C{i:D5},{(i % 5 == 0 ? "" : $"\"Zürich, \"\"{i}\"\"\nline\"")},{(i % 7 == 0 ? "" : (i * 1.1 - 300).ToString("R", CultureInfo.InvariantCulture))},{i * 1000003L},{i % 300},{(i % 3 == 0 ? "true" : "false")}\n");
        string[] queries = ["", "?$format=tsv", "?$filter=Value gt 100", "?$select=Label,Flag", "?$top=10&$skip=5", "?$last=3", "?$format=tsv&$filter=Flag eq true"];

        await using var service = await ServiceUnderTest.StartAsync("format-in-service",
            new Dictionary<string, string> { ["DP_DOWNLOAD_FORMAT_IN_SERVICE"] = "true" }, connectionString);
        var id = await service.Client().NewDatasetAsync();
        Assert.Equal("Processed", (await service.Client().UploadAndWaitAsync(id, csv.ToString(), manifest)).GetProperty("status").GetString());

        async Task<List<string>> DownloadsAsync()
        {
            var api = service.Client(timeout: TimeSpan.FromMinutes(2));
            var downloads = new List<string>();
            foreach (var query in queries) downloads.Add(await api.DownloadAsync(id, query));
            return downloads;
        }

        var formattedByService = await DownloadsAsync();
        await service.RestartAsync(new Dictionary<string, string> { ["DP_DOWNLOAD_FORMAT_IN_SERVICE"] = "false" });
        var formattedByServer = await DownloadsAsync();
        // The header, 2000 rows, and the line break inside each of the 1600 labels.
        Assert.Equal(3601, formattedByServer[0].Count(c => c == '\n'));
        Assert.Contains("\"Zürich, \"\"1\"\"\nline\"", formattedByServer[0]);
        for (var i = 0; i < queries.Length; i++) Assert.Equal(formattedByServer[i], formattedByService[i]);
    }

    /// <summary>
    /// Loads <paramref name="values"/> (of <paramref name="dbType"/>) into a table with an id and a text beside them (so that
    /// separators matter), reads <paramref name="expression"/> of them (of <paramref name="sqlType"/>) back with the server's
    /// CSV and TSV and with <see cref="BinaryCsvCopy"/>, and compares the bytes.
    /// </summary>
    private async Task AssertSameAsServerAsync(string sqlType, NpgsqlDbType dbType, IReadOnlyList<object?> values, string expression, bool alone = false)
    {
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        var rawType = dbType switch { NpgsqlDbType.Integer => "integer", NpgsqlDbType.Bigint => "bigint", NpgsqlDbType.Double => "double precision", _ => "text" };
        await using (var create = new NpgsqlCommand($"CREATE TEMP TABLE formatted (id int, raw {rawType}, t text)", connection))
            await create.ExecuteNonQueryAsync();
        await using (var import = await connection.BeginBinaryImportAsync("COPY formatted (id, raw, t) FROM STDIN (FORMAT BINARY)"))
        {
            for (var i = 0; i < values.Count; i++)
            {
                await import.StartRowAsync();
                await import.WriteAsync(i, NpgsqlDbType.Integer);
                var value = values[i];
                if (value is null) await import.WriteNullAsync();
                else await import.WriteAsync(value, dbType);
                await import.WriteAsync(i % 2 == 0 ? "x" : "y,\"z\"", NpgsqlDbType.Text);
            }
            await import.CompleteAsync();
        }

        var columns = alone
            ? new[] { Column("c1", sqlType) }
            : new[] { Column("c0", "integer"), Column("c1", sqlType), Column("c2", "text") };
        var select = alone ? $"SELECT {expression} FROM formatted ORDER BY id" : $"SELECT id, {expression}, t FROM formatted ORDER BY id";
        foreach (var (format, options) in new[] { (RowFormat.Csv, "FORMAT csv"), (RowFormat.Tsv, "FORMAT csv, DELIMITER E'\\t'") })
        {
            var server = new MemoryStream();
            await using (var session = new NpgsqlCommand("SET DateStyle = 'ISO, YMD'", connection)) await session.ExecuteNonQueryAsync();
            using (var text = await connection.BeginTextExportAsync($"COPY ({select}) TO STDOUT ({options})"))
                await text.BaseStream.CopyToAsync(server);

            var ours = new MemoryStream();
            var copy = BinaryCsvCopy.For(columns, format) ?? throw new InvalidOperationException($"{sqlType} is not formatted by the service");
            var buffer = new CopyOutBuffer(ours);
            await using (var binary = await connection.BeginRawBinaryCopyAsync($"COPY ({select}) TO STDOUT (FORMAT binary)"))
                await copy.CopyAsync(binary, buffer, default);
            await buffer.FlushAsync(default);

            AssertSameLines(server.ToArray(), ours.ToArray(), $"{sqlType} as {format}");
        }
        await using (var drop = new NpgsqlCommand("DROP TABLE formatted", connection)) await drop.ExecuteNonQueryAsync();
    }

    /// <summary>Equal bytes; when not, the first line that differs, so a failure names the value.</summary>
    private static void AssertSameLines(byte[] expected, byte[] actual, string what)
    {
        if (expected.AsSpan().SequenceEqual(actual)) return;
        var expectedLines = Encoding.UTF8.GetString(expected).Split('\n');
        var actualLines = Encoding.UTF8.GetString(actual).Split('\n');
        for (var i = 0; i < Math.Min(expectedLines.Length, actualLines.Length); i++)
            Assert.True(expectedLines[i] == actualLines[i], $"{what}, line {i + 1}: server '{expectedLines[i]}', service '{actualLines[i]}'");
        Assert.Equal(expectedLines.Length, actualLines.Length);
    }

    private static StoredColumn Column(string physical, string sqlType) =>
        new() { Name = physical, SourceName = physical, Dtype = "x", SqlType = sqlType, Physical = physical };
}
