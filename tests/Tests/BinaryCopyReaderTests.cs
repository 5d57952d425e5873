using System.Buffers.Binary;
using System.Text;
using DatasetPlatform.Grains;
using DatasetPlatform.Grains.Import;
using DatasetPlatform.Tests.Infrastructure;
using Npgsql;

namespace DatasetPlatform.Tests;

/// <summary>
/// The binary COPY reader behind a merge's live-row read (<see cref="LiveRowHashes"/>) gives each row of a real PostgreSQL
/// binary COPY exactly once, whole, then null: rows longer than its buffer, NULL fields, and rows that arrive a few bytes at a
/// time, as they can from a socket.
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class BinaryCopyReaderTests(PlatformFixture platform)
{
    private const string Rows = "SELECT i, CASE WHEN i % 3 = 0 THEN NULL ELSE repeat(chr(97 + i % 26), CASE WHEN i = 7 THEN 150000 ELSE i END) END FROM generate_series(1, 40) i";

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public async Task Every_row_comes_whole_and_once_then_the_end(int bytesPerRead)
    {
        await using var connection = new NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        await using var copy = await connection.BeginRawBinaryCopyAsync($"COPY ({Rows}) TO STDOUT (FORMAT BINARY)");
        var reader = new BinaryCopyReader(bytesPerRead > 0 ? new Trickle(copy, bytesPerRead) : copy);

        var read = new List<(int Id, string? Text)>();
        while (await reader.NextRowAsync(default) is { } row) read.Add(Decode(row.Span));

        Assert.Null(await reader.NextRowAsync(default));
        Assert.Equal(40, read.Count);
        for (var i = 1; i <= 40; i++)
        {
            Assert.Equal(i, read[i - 1].Id);
            var expected = i % 3 == 0 ? null : new string((char)(97 + i % 26), i == 7 ? 150000 : i);
            Assert.Equal(expected, read[i - 1].Text);
        }
    }

    /// <summary>One row: field count 2, then an int4 and a text (length -1 for NULL).</summary>
    private static (int, string?) Decode(ReadOnlySpan<byte> row)
    {
        Assert.Equal(2, BinaryPrimitives.ReadInt16BigEndian(row));
        Assert.Equal(4, BinaryPrimitives.ReadInt32BigEndian(row[2..]));
        var id = BinaryPrimitives.ReadInt32BigEndian(row[6..]);
        var length = BinaryPrimitives.ReadInt32BigEndian(row[10..]);
        Assert.Equal(14 + Math.Max(length, 0), row.Length);
        return (id, length < 0 ? null : Encoding.UTF8.GetString(row.Slice(14, length)));
    }

    /// <summary>A stream that hands out at most a few bytes per read, as a slow socket may.</summary>
    private sealed class Trickle(Stream inner, int bytesPerRead) : ForwardOnlyReadStream
    {
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, Math.Min(count, bytesPerRead));
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            inner.ReadAsync(buffer[..Math.Min(buffer.Length, bytesPerRead)], cancellationToken);
    }
}
