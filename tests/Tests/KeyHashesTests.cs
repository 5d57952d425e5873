using DatasetPlatform.Grains.Import;

namespace DatasetPlatform.Tests;

/// <summary>
/// The in-memory check for repeated row keys that lets an upload skip the database's duplicate check: exact on its hashes at
/// any size, with memory that stays flat (past a million keys the hashes go to temporary files).
/// </summary>
public sealed class KeyHashesTests
{
    private static ulong Mix(ulong i) => (i + 1) * 0x9E3779B97F4A7C15UL; // distinct for distinct i, spread over every partition

    [Theory]
    [InlineData(1_000)]
    [InlineData(KeyHashes.InMemoryKeys + 1)]
    [InlineData(3_000_000)]
    public void Distinct_keys_are_never_taken_for_duplicates(int count)
    {
        using var hashes = new KeyHashes();
        for (var i = 0UL; i < (ulong)count; i++) hashes.Add(Mix(i));
        Assert.Equal(count > KeyHashes.InMemoryKeys, hashes.Spilled);
        Assert.False(hashes.MaySeeDuplicates);
    }

    [Theory]
    [InlineData(1_000, 0, 999)]
    [InlineData(3_000_000, 0, 2_999_999)] // the first key (written to its partition when the spill started) repeated by the last
    [InlineData(3_000_000, 2_000_000, 2_000_001)]
    public void A_repeated_key_is_found_wherever_it_is(int count, int first, int repeatAt)
    {
        using var hashes = new KeyHashes();
        for (var i = 0; i < count; i++) hashes.Add(Mix((ulong)(i == repeatAt ? first : i)));
        Assert.True(hashes.MaySeeDuplicates);
    }

    [Theory]
    [InlineData(0UL, false)] // the hash 0 (a free slot in the check's table) once
    [InlineData(0UL, true)] // and twice
    [InlineData(ulong.MaxValue, true)]
    public void A_hash_of_zero_or_all_ones_counts_like_any_other(ulong special, bool twice)
    {
        using var hashes = new KeyHashes();
        for (var i = 0UL; i < 10_000; i++) hashes.Add(Mix(i));
        hashes.Add(special);
        if (twice) hashes.Add(special);
        Assert.Equal(twice, hashes.MaySeeDuplicates);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Hashes_that_share_their_low_bits_are_told_apart(bool repeat)
    {
        // Every hash in one bucket of the check (the low byte): the worst case for its tables, still exact.
        using var hashes = new KeyHashes();
        for (var i = 0UL; i < 200_000; i++) hashes.Add(Mix(i) << 8 | 0x2A);
        if (repeat) hashes.Add(Mix(123_456) << 8 | 0x2A);
        Assert.Equal(repeat, hashes.MaySeeDuplicates);
    }
}
