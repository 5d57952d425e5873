using System.IO.Hashing;

namespace DatasetPlatform.Grains.Import;

/// <summary>
/// The 128-bit hash of a keyed dataset's row that the keyed merge compares instead of the row's values (stored in the table's
/// <c>_h</c> column, <see cref="Storage.DataTables.RowHashColumn"/>): the wrapping sum, over the row's non-NULL columns, of
/// XXH128 of the value as binary COPY encodes it, seeded with the column's physical ordinal.
/// </summary>
/// <remarks>
/// <para>Equal rows hash alike exactly when the merge's comparison (<c>IS DISTINCT FROM</c> per column) calls them equal: values
/// are hashed in their typed form (1.0 and 1.00 are one float8, dates are day counts, text its exact UTF-8 bytes, which is
/// what a deterministic collation compares), an empty field is NULL before it is hashed, and float8's -0 (equal to 0 in
/// PostgreSQL, not in its bits) is hashed as 0.</para>
/// <para>A sum of per-column terms, not a hash of the row's bytes, so that the hash does not depend on the order of the file's
/// columns and a NULL column adds nothing: a column added to the dataset later (NULL in the rows already there) and a column an
/// upload does not carry (absent, NULL in its new rows) leave the hash of the same values the same.</para>
/// <para>Collisions: a changed row is taken for unchanged only if its hash equals the live row's by chance. With 128 bits the
/// chance over an upload of n rows against m live rows is at most n x m / 2^128 (the merge looks a hash up among every live
/// row's): 3e-27 for 1M against 1M, 3e-25 for 10M against 10M; a disk's undetected bit error is far likelier.</para>
/// </remarks>
internal static class RowHash
{
    private static ReadOnlySpan<byte> Null => [0xFF, 0xFF, 0xFF, 0xFF];
    private static ReadOnlySpan<byte> NegativeZero => [0, 0, 0, 8, 0x80, 0, 0, 0, 0, 0, 0, 0];
    private static ReadOnlySpan<byte> PositiveZero => [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0];

    /// <summary>The seed of a column's term: its physical ordinal (c12 -> 12), stable for the column's life.</summary>
    public static long Seed(LoadColumn column) => long.Parse(column.Column.Physical.AsSpan(1), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// The term of one encoded field (its 4-byte length prefix included); 0 for NULL (length -1), which leaves the sum as it is.
    /// </summary>
    public static UInt128 Term(ReadOnlySpan<byte> encoded, long seed, bool isFloat)
    {
        if (encoded.Length == 4 && encoded.SequenceEqual(Null)) return 0;
        if (isFloat && encoded.SequenceEqual(NegativeZero)) encoded = PositiveZero;
        return XxHash128.HashToUInt128(encoded, seed);
    }
}
