using System.IO.Compression;
using System.Text;

namespace DatasetPlatform.Tests.Infrastructure;

/// <summary>The upload doors a file can come through.</summary>
public enum UploadDoor
{
    /// <summary>PUT /datasets/{id}/data, multipart (Alphacast).</summary>
    AlphacastPut,
    /// <summary>GET upload-url, then an anonymous PUT of the bytes (V4).</summary>
    PresignedPut,
    /// <summary>POST /api/datasets/upload: a new dataset (seed 004).</summary>
    VersionedUpload,
    /// <summary>POST /api/datasets/{id}/versions: a new version (seed 004).</summary>
    VersionedNewVersion,
}

/// <summary>What a door must do with a case: refuse it with a message holding every fragment, or load it and read back text holding <c>ReadBack</c>.</summary>
public sealed record Expectation(bool Accepted, string[] Fragments, string? ReadBack = null)
{
    public static Expectation Refused(params string[] fragments) => new(false, fragments);
    public static Expectation Loaded(string? readBack = null) => new(true, [], readBack);
}

/// <summary>One generated bad (or merely odd) file, and what each door that reads its format must do with it.</summary>
public sealed record CorpusCase(string Name, string FileName, Func<byte[]> Bytes, Func<UploadDoor, Expectation?> Expect);

/// <summary>
/// The bad-input corpus: every file is generated here (never a fixture on disk), from the columns every test dataset starts
/// with (Date, Country, Value). A null expectation means the door does not read that format.
/// </summary>
public static class BadInputCorpus
{
    public const string Header = "Date,Country,Value";

    /// <summary>Columns whose names would break naive SQL or CSV handling; they must be accepted and round-trip.</summary>
    public static readonly string[] HostileNames = ["x\"; DROP TABLE dp.datasets; --", "select", "a;b", "from"];

    private static bool IsVersioned(UploadDoor door) => door is UploadDoor.VersionedUpload or UploadDoor.VersionedNewVersion;

    private static Func<UploadDoor, Expectation?> Everywhere(Expectation expectation) => _ => expectation;

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private static byte[] Concat(params byte[][] parts) => [.. parts.SelectMany(p => p)];

    /// <summary>Gzip of <paramref name="header"/> then <paramref name="line"/> repeated until <paramref name="bytes"/> bytes, streamed (no big buffer).</summary>
    public static byte[] GzipOfRepeated(string header, Func<int, string> line, long bytes, CompressionLevel level = CompressionLevel.Fastest)
    {
        using var buffer = new MemoryStream();
        using (var zip = new GZipStream(buffer, level))
        {
            zip.Write(Utf8(header));
            long written = header.Length;
            var chunk = new StringBuilder();
            for (var i = 0; written < bytes; i++)
            {
                chunk.Append(line(i));
                if (chunk.Length < 1 << 16) continue;
                var encoded = Utf8(chunk.ToString());
                zip.Write(encoded);
                written += encoded.Length;
                chunk.Clear();
            }
        }
        return buffer.ToArray();
    }

    public static byte[] Gzip(byte[] bytes)
    {
        using var buffer = new MemoryStream();
        using (var zip = new GZipStream(buffer, CompressionLevel.Optimal)) zip.Write(bytes);
        return buffer.ToArray();
    }

    public static IReadOnlyList<CorpusCase> Cases { get; } =
    [
        new("stray-quote", "data.csv", () => Utf8($"{Header}\n2021-01-01,\"US\"A,1\n"), Everywhere(Expectation.Refused("Row 1", "malformed"))),
        new("unclosed-quote", "data.csv", () => Utf8($"{Header}\n2021-01-01,\"USA,1\n2021-01-02,ARG,2\n"), Everywhere(Expectation.Refused("Row 1", "malformed"))),
        new("ragged-row", "data.csv", () => Utf8($"{Header}\n2021-01-02,ARG,2,surplus\n"), Everywhere(Expectation.Refused("Row 1", "4 fields but the header has 3"))),
        new("trailing-delimiter", "data.csv", () => Utf8($"{Header}\n2021-01-01,USA,7,\n"), Everywhere(Expectation.Loaded("2021-01-01"))),
        new("nul-byte", "data.csv", () => Utf8($"{Header}\n2021-01-01,U\0SA,1\n"), Everywhere(Expectation.Refused("Row 1", "Country", "NUL"))),
        new("invalid-utf8", "data.csv", () => Concat(Utf8($"{Header}\n2021-01-01,US"), [0xC3, 0x28], Utf8(",1\n")),
            door => IsVersioned(door) ? Expectation.Loaded("USÃ(") : Expectation.Refused("Row 1", "Country", "not UTF-8")),
        new("invalid-utf8-in-header", "data.csv", () => Concat(Utf8("Date,Count"), [0xFF], Utf8("ry,Value\n2021-01-01,USA,1\n")),
            door => IsVersioned(door) ? Expectation.Loaded("Countÿry") : Expectation.Refused("Column 2 of the header", "not UTF-8")),
        new("latin1", "data.csv", () => Concat(Utf8($"{Header}\n2021-01-01,Bogot"), [0xE1], Utf8(",1\n")),
            door => IsVersioned(door) ? Expectation.Loaded("Bogotá") : Expectation.Refused("Row 1", "Country", "not UTF-8")),
        new("utf16-with-bom", "data.csv", () => Encoding.Unicode.GetPreamble().Concat(Encoding.Unicode.GetBytes($"{Header}\n2021-01-01,Zürich,1\n")).ToArray(),
            Everywhere(Expectation.Loaded("Zürich"))),
        new("utf16-without-bom", "data.csv", () => Encoding.Unicode.GetBytes($"{Header}\n2021-01-01,Zürich,1\n"), Everywhere(Expectation.Refused("UTF-16"))),
        new("utf16-big-endian-without-bom", "data.csv", () => Encoding.BigEndianUnicode.GetBytes($"{Header}\n2021-01-01,Zürich,1\n"),
            Everywhere(Expectation.Refused("UTF-16"))),
        new("empty", "data.csv", () => [], Everywhere(Expectation.Refused("empty"))),
        new("whitespace-only", "data.csv", () => Utf8("\n \n\t\n"), Everywhere(Expectation.Refused("empty"))),
        new("header-only", "data.csv", () => Utf8($"{Header}\n"), Everywhere(Expectation.Refused("empty"))),
        new("duplicate-header", "data.csv", () => Utf8($"{Header},VALUE\n2021-01-01,USA,1,2\n"), Everywhere(Expectation.Refused("'VALUE' appears more than once"))),
        new("empty-header-name", "data.csv", () => Utf8("Date,Country,,Value\n2021-01-01,USA,ignored,1\n"),
            door => IsVersioned(door) ? null : Expectation.Loaded("2021-01-01")),
        new("hostile-names", "data.csv",
            () => Utf8($"{Header},{string.Join(",", HostileNames.Select(n => "\"" + n.Replace("\"", "\"\"") + "\""))}\n2021-01-01,USA,1,5,6,7,8\n"),
            Everywhere(Expectation.Loaded("\"x\"\"; DROP TABLE dp.datasets; --\""))),
        new("huge-field", "data.csv", () => Utf8($"{Header}\n2021-01-01,{new string('x', PlatformFixture.MaxFieldChars + 1)},1\n"),
            Everywhere(Expectation.Refused("Row 1", "Country", "MAX_FIELD_CHARS"))),
        new("huge-record", "data.csv",
            () => Utf8($"{Header}\n2021-01-01,USA,1\n2021-01-02,{string.Join(",", Enumerable.Repeat(new string('9', 100_000), 12))}\n"),
            Everywhere(Expectation.Refused("Row 2", "MAX_RECORD_CHARS"))),
        new("gzip-bomb", "data.csv.gz", () => GzipOfRepeated(Header + "\n", _ => "2021-01-01,USA,1\n", 40L << 20, CompressionLevel.SmallestSize),
            Everywhere(Expectation.Refused("MAX_EXPANSION_RATIO"))),
        new("gzip-too-large", "data.csv.gz",
            () => GzipOfRepeated(Header + "\n", i => $"2021-01-01,C{(i * 7919) % 100_003},{(i * 104_729) % 1_000_003}{new string(' ', 150)}\n", PlatformFixture.MaxDecompressedBytes + (8 << 20)),
            Everywhere(Expectation.Refused("MAX_DECOMPRESSED_BYTES"))),
        new("truncated-gzip", "data.csv.gz", () =>
            {
                var whole = Gzip(Utf8(Header + "\n" + string.Concat(Enumerable.Range(0, 5000).Select(i => $"2021-01-01,C{i},{i}\n"))));
                return whole[..(whole.Length * 2 / 3)];
            },
            Everywhere(Expectation.Refused("truncated"))),
        new("zip-archive", "data.csv", () =>
            {
                using var buffer = new MemoryStream();
                using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
                using (var entry = zip.CreateEntry("data.csv").Open()) entry.Write(Utf8($"{Header}\n2021-01-01,USA,1\n"));
                return buffer.ToArray();
            },
            Everywhere(Expectation.Refused("zip"))),
        new("number-overflow", "data.csv", () => Utf8($"{Header}\n2021-01-01,USA,1e400\n"),
            door => IsVersioned(door) ? Expectation.Loaded("1e400") : Expectation.Refused("Row 1", "Value", "'1e400' is not a valid Decimal")),
        new("nan", "data.csv", () => Utf8($"{Header}\n2021-01-01,USA,NaN\n"),
            door => IsVersioned(door) ? Expectation.Loaded("NaN") : Expectation.Refused("Row 1", "Value", "'NaN' is not a valid Decimal")),
        new("negative-zero", "data.csv", () => Utf8($"{Header}\n2021-01-01,USA,-0\n"),
            door => IsVersioned(door) ? Expectation.Loaded("2021-01-01,USA,0") : Expectation.Loaded("-0")),
        new("year-99999", "data.csv", () => Utf8($"{Header}\n99999-01-01,USA,1\n"),
            door => IsVersioned(door) ? Expectation.Loaded("99999-01-01") : Expectation.Refused("Row 1", "Date", "not a valid date")),
        // JSON lines: read by the presigned door only (the versioned-datasets upload takes CSV and Parquet).
        new("json-giant-line", "data.jsonl", () => Utf8($"{{\"Country\":\"{new string('x', PlatformFixture.MaxRecordChars + 10)}\"}}\n"),
            door => door == UploadDoor.PresignedPut ? Expectation.Refused("Line 1 is longer than", "MAX_RECORD_CHARS") : null),
        new("json-huge-value", "data.jsonl", () => Utf8($"{{\"Date\":\"2021-01-01\",\"Country\":\"{new string('x', PlatformFixture.MaxFieldChars + 1)}\"}}\n"),
            door => door == UploadDoor.PresignedPut ? Expectation.Refused("Country", "MAX_FIELD_CHARS") : null),
        new("json-too-many-keys", "data.jsonl",
            () => Utf8("{" + string.Join(",", Enumerable.Range(0, 1597).Select(i => $"\"k{i}\":{i}")) + "}\n"),
            door => door == UploadDoor.PresignedPut ? Expectation.Refused("more than 1596 fields") : null),
        new("json-bomb", "data.jsonl.gz", () => GzipOfRepeated("", _ => "{\"Date\":\"2021-01-01\",\"Country\":\"USA\",\"Value\":1}\n", 40L << 20, CompressionLevel.SmallestSize),
            door => door == UploadDoor.PresignedPut ? Expectation.Refused("MAX_EXPANSION_RATIO") : null),
        new("json-not-utf8", "data.jsonl", () => Concat(Utf8("{\"Date\":\"2021-01-01\",\"Country\":\"Bogot"), [0xE1], Utf8("\"}\n")),
            door => door == UploadDoor.PresignedPut ? Expectation.Refused("Row 1", "Country", "not UTF-8") : null),
    ];

    public static IEnumerable<object[]> CasesByDoor() =>
        from c in Cases
        from door in Enum.GetValues<UploadDoor>()
        where c.Expect(door) is not null
        select new object[] { c.Name, door };
}

/// <summary>
/// Parquet files that lie: a valid file written by Parquet.Net whose footer is then rewritten (through the library's own
/// Thrift writer, reached by reflection since it is internal) or replaced by hand-made bytes.
/// </summary>
public static class LyingParquet
{
    public static async Task<byte[]> ValidAsync(int rows = 3)
    {
        var date = new Parquet.Schema.DataField<string>("Date");
        var country = new Parquet.Schema.DataField<string>("Country");
        var value = new Parquet.Schema.DataField<double?>("Value");
        using var buffer = new MemoryStream();
        await using (var writer = await Parquet.ParquetWriter.CreateAsync(new Parquet.Schema.ParquetSchema(date, country, value), buffer))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(date, Enumerable.Range(0, rows).Select(i => $"2021-01-{1 + i % 28:00}").ToArray());
            await group.WriteAsync(country, Enumerable.Range(0, rows).Select(i => $"C{i}").ToArray());
            await group.WriteAsync(value, (ReadOnlyMemory<double?>)Enumerable.Range(0, rows).Select(i => (double?)i).ToArray());
        }
        return buffer.ToArray();
    }

    public static IReadOnlyList<string> Lies { get; } =
        ["rows-claim-huge", "rows-claim-more", "values-claim-fewer", "garbage-footer", "footer-length-lies", "list-claim-huge", "nested-deep", "truncated"];

    public static async Task<byte[]> CreateAsync(string lie)
    {
        var file = await ValidAsync();
        switch (lie)
        {
            case "rows-claim-huge": return await RewriteAsync(file, m => SetRows(m, int.MaxValue - 1));
            case "rows-claim-more": return await RewriteAsync(file, m => SetRows(m, 8));
            case "values-claim-fewer": return await RewriteAsync(file, m => m.RowGroups[0].Columns[1].MetaData!.NumValues = 1);
            case "garbage-footer":
            {
                var footerLength = BitConverter.ToInt32(file, file.Length - 8);
                var random = new Random(8);
                for (var i = file.Length - 8 - footerLength; i < file.Length - 8; i++) file[i] = (byte)random.Next(256);
                return file;
            }
            case "footer-length-lies":
                BitConverter.GetBytes(1 << 30).CopyTo(file, file.Length - 8);
                return file;
            // FileMetaData field 2 (schema): a list of structs claiming 2^31-1 elements, in 7 bytes.
            case "list-claim-huge": return ReplaceFooter(file, [0x29, 0xFC, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00]);
            // Field 1 holding a struct holding a struct ... 200,000 deep: a recursive skip would overflow the stack.
            case "nested-deep": return ReplaceFooter(file, [.. Enumerable.Repeat((byte)0x1C, 200_000), .. Enumerable.Repeat((byte)0x00, 200_001)]);
            case "truncated": return file[..(file.Length / 2)];
            default: throw new ArgumentException(lie);
        }
    }

    private static void SetRows(Parquet.Meta.FileMetaData meta, long rows)
    {
        meta.NumRows = rows;
        meta.RowGroups[0].NumRows = rows;
        foreach (var column in meta.RowGroups[0].Columns) column.MetaData!.NumValues = rows;
    }

    private static async Task<byte[]> RewriteAsync(byte[] file, Action<Parquet.Meta.FileMetaData> lie)
    {
        Parquet.Meta.FileMetaData meta;
        await using (var reader = await Parquet.ParquetReader.CreateAsync(new MemoryStream(file)))
            meta = reader.Metadata!;
        lie(meta);
        using var footer = new MemoryStream();
        var writerType = typeof(Parquet.ParquetReader).Assembly.GetType("Parquet.Meta.Proto.ThriftCompactProtocolWriter")!;
        var proto = Activator.CreateInstance(writerType, footer)!;
        typeof(Parquet.Meta.FileMetaData).GetMethod("Write", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!
            .Invoke(meta, [proto]);
        return ReplaceFooter(file, footer.ToArray());
    }

    private static byte[] ReplaceFooter(byte[] file, byte[] footer)
    {
        var oldLength = BitConverter.ToInt32(file, file.Length - 8);
        var data = file[..(file.Length - 8 - oldLength)];
        return [.. data, .. footer, .. BitConverter.GetBytes(footer.Length), .. "PAR1"u8.ToArray()];
    }
}
