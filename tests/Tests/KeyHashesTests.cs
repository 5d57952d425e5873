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
}
