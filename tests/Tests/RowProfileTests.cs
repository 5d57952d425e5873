using DatasetPlatform.Grains.Import;
using DatasetPlatform.Grains.Schema;

namespace DatasetPlatform.Tests;

/// <summary>
/// The figures a seed 004 version's quality report takes from its encoded rows: whole-row hashes that repeat exactly when rows
/// are equal the database's way (also past the million rows where the hashes go to temporary files), NULLs and constant columns.
/// </summary>
public sealed class RowProfileTests
{
    private static LoadColumn Column(string name, FieldKind kind, string sqlType) =>
        new(0, new StoredColumn { Name = name, SourceName = name, Dtype = "x", SqlType = sqlType, Physical = "c0" }, kind, null);

    private static readonly LoadColumn[] IdAndAmount = [Column("id", FieldKind.Int64, "bigint"), Column("amount", FieldKind.Float, "double precision")];

    private static void Add(RowProfile profile, CopyRowEncoder encoder, long? id, double? amount)
    {
        encoder.BeginRow(2);
        var starts = new int[2];
        starts[0] = encoder.Length;
        if (id is { } i) encoder.WriteInt64(i); else encoder.WriteNull();
        starts[1] = encoder.Length;
        if (amount is { } a) encoder.WriteDouble(a); else encoder.WriteNull();
        var dataStart = starts[0];
        profile.AddRow(encoder.Row[dataStart..], [starts[0] - dataStart, starts[1] - dataStart]);
    }

    [Theory]
    [InlineData(1_000)]
    [InlineData(KeyHashes.InMemoryKeys + 2)]
    public void Distinct_rows_are_never_taken_for_duplicates(int rows)
    {
        using var profile = new RowProfile(IdAndAmount);
        var encoder = new CopyRowEncoder();
        for (var i = 0; i < rows; i++) Add(profile, encoder, i, 1.5);
        var figures = profile.Finish();
        Assert.Equal(rows, figures.Rows);
        Assert.Equal(rows > KeyHashes.InMemoryKeys, figures.RowHashesSpilled);
        Assert.False(figures.MayHaveDuplicateRows);
        Assert.Equal([false, true], figures.Constant);
        Assert.Equal([0L, 0L], figures.Nulls);
    }

    [Theory]
    [InlineData(1_000)]
    [InlineData(KeyHashes.InMemoryKeys + 2)]
    public void A_repeated_row_is_found_past_the_spill_threshold(int rows)
    {
        using var profile = new RowProfile(IdAndAmount);
        var encoder = new CopyRowEncoder();
        // The last row repeats the first one, written long before the hashes spilled.
        for (var i = 0; i < rows; i++) Add(profile, encoder, i, i % 7);
        Add(profile, encoder, 0, 0);
        var figures = profile.Finish();
        Assert.Equal(rows > KeyHashes.InMemoryKeys, figures.RowHashesSpilled);
        Assert.True(figures.MayHaveDuplicateRows);
    }

    [Fact]
    public void Negative_zero_is_zero_and_nulls_are_alike()
    {
        using var profile = new RowProfile(IdAndAmount);
        var encoder = new CopyRowEncoder();
        Add(profile, encoder, 1, 0.0);
        Add(profile, encoder, 1, -0.0);
        var figures = profile.Finish();
        Assert.True(figures.MayHaveDuplicateRows);
        Assert.Equal([true, true], figures.Constant);

        using var nulls = new RowProfile(IdAndAmount);
        Add(nulls, encoder, 1, null);
        Add(nulls, encoder, 1, null);
        var withNulls = nulls.Finish();
        Assert.True(withNulls.MayHaveDuplicateRows);
        Assert.Equal([0L, 2L], withNulls.Nulls);

        using var different = new RowProfile(IdAndAmount);
        Add(different, encoder, 1, 1.0);
        Add(different, encoder, 1, 1.0000001);
        Add(different, encoder, 1, null);
        var distinct = different.Finish();
        Assert.False(distinct.MayHaveDuplicateRows);
        Assert.Equal([true, false], distinct.Constant);
    }
}
