using System.Buffers.Binary;
using System.IO.Hashing;

namespace DatasetPlatform.Grains.Import;

/// <summary>
/// The figures a version's quality report needs, gathered from the encoded rows while they stream into COPY: per column
/// the NULLs and whether every non-NULL value is the same, and a 64-bit hash of every whole row. No repeated hash means no
/// duplicate row, exactly, so the database's GROUP BY over the new version only runs when some hash repeats (a true
/// duplicate or a collision: the database then decides).
/// </summary>
/// <remarks>
/// Values are compared as their encoded binary COPY form, which is what the column types' equality means in PostgreSQL for
/// the types a version stores: numbers are parsed (1.0 and 1.00 are the same float8), dates and timestamps are their day or
/// microsecond counts, booleans one byte, text its exact UTF-8 bytes (deterministic collations compare equal only when the
/// bytes are), and NULL encodes the same each time (GROUP BY puts NULLs together). The one exception is float8's -0, equal to
/// 0 in PostgreSQL but not in its bits: it is compared and hashed as 0.
/// </remarks>
/// <param name="Nulls">NULLs per loaded column.</param>
/// <param name="Constant">Per loaded column: one value only, NULLs aside (PostgreSQL's min = max; true when all are NULL).</param>
/// <param name="MayHaveDuplicateRows">False when no two rows hash alike: then no row is a duplicate of another.</param>
internal sealed record RowFigures(long Rows, IReadOnlyList<long> Nulls, IReadOnlyList<bool> Constant, bool MayHaveDuplicateRows)
{
    /// <summary>Whether the row hashes went to temporary files (more than <see cref="KeyHashes.InMemoryKeys"/> rows); for tests and logs.</summary>
    public bool RowHashesSpilled { get; init; }
}

internal sealed class RowProfile : IDisposable
{
    private static ReadOnlySpan<byte> PositiveZero => [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0];

    private readonly bool[] _isFloat;
    private readonly long[] _nulls;
    private readonly byte[]?[] _first;
    private readonly bool[] _varies;
    private readonly KeyHashes _rowHashes = new();
    private byte[] _scratch = [];

    public RowProfile(IReadOnlyList<LoadColumn> columns)
    {
        _isFloat = [.. columns.Select(c => c.Kind == FieldKind.Float)];
        _nulls = new long[columns.Count];
        _first = new byte[columns.Count][];
        _varies = new bool[columns.Count];
    }

    public long Rows { get; private set; }

    /// <summary>The figures once every row is in (reads back the spilled hashes, if any).</summary>
    public RowFigures Finish() =>
        new(Rows, [.. _nulls], [.. _varies.Select(v => !v)], _rowHashes.MaySeeDuplicates) { RowHashesSpilled = _rowHashes.Spilled };

    /// <summary>
    /// A row that was kept: its data part (every loaded field as encoded, length prefixes included, in order) and where each
    /// field starts in it.
    /// </summary>
    public void AddRow(ReadOnlySpan<byte> data, ReadOnlySpan<int> fieldStarts)
    {
        Rows++;
        var negativeZeros = false;
        for (var i = 0; i < fieldStarts.Length; i++)
        {
            var end = i + 1 < fieldStarts.Length ? fieldStarts[i + 1] : data.Length;
            var encoded = data[fieldStarts[i]..end];
            // A NULL is its length word alone, -1; a float8 is 12 bytes, -0 the sign bit alone.
            if (encoded.Length == 4 && BinaryPrimitives.ReadInt32BigEndian(encoded) == -1)
            {
                _nulls[i]++;
                continue;
            }
            if (_isFloat[i] && encoded.Length == 12 && BinaryPrimitives.ReadInt64BigEndian(encoded[4..]) == long.MinValue)
            {
                negativeZeros = true;
                encoded = PositiveZero;
            }
            if (_varies[i]) continue;
            if (_first[i] is not { } first) _first[i] = encoded.ToArray();
            else if (!encoded.SequenceEqual(first))
            {
                _varies[i] = true;
                _first[i] = null;
            }
        }
        if (!negativeZeros)
        {
            _rowHashes.Add(XxHash3.HashToUInt64(data));
            return;
        }
        // Rare: hash a copy with every -0 made 0 (the sign bit is the first byte of the big-endian double).
        if (_scratch.Length < data.Length) _scratch = new byte[Math.Max(data.Length, 2 * _scratch.Length)];
        var copy = _scratch.AsSpan(0, data.Length);
        data.CopyTo(copy);
        for (var i = 0; i < fieldStarts.Length; i++)
        {
            var end = i + 1 < fieldStarts.Length ? fieldStarts[i + 1] : data.Length;
            if (_isFloat[i] && end - fieldStarts[i] == 12 && BinaryPrimitives.ReadInt64BigEndian(copy[(fieldStarts[i] + 4)..]) == long.MinValue)
                copy[fieldStarts[i] + 4] = 0;
        }
        _rowHashes.Add(XxHash3.HashToUInt64(copy));
    }

    public void Dispose() => _rowHashes.Dispose();
}
