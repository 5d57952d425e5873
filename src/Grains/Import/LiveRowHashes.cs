using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using Npgsql;

namespace DatasetPlatform.Grains.Import;

/// <summary>
/// A keyed dataset's live rows, held in memory while an upload is merged into it: for each row the hash of its key (as the
/// upload's rows are hashed, <see cref="KeyHash"/>), its place in the table (ctid) and its <see cref="RowHash"/>. An uploaded
/// row looks its key up as it streams by:
/// <list type="bullet">
/// <item>same key, same row hash: identical to the live row. The COPY stages only its key (the merge needs every key for
/// deleteMissing, and for its duplicate check when keys may repeat) or, without deleteMissing, nothing
/// (<see cref="CopyTarget.SkipUnchanged"/>), and the merge leaves it out;</item>
/// <item>same key, another hash: a changed row, staged with the live row's ctid (<see cref="Paired"/>), so the merge fetches
/// that one row by its ctid instead of joining the whole live table to the upload;</item>
/// <item>no such key: a new row, staged without a ctid; the merge inserts it without looking at the live rows.</item>
/// </list>
/// </summary>
/// <remarks>
/// <para>24 bytes per live row (24 MB at 1M rows), sorted by key hash, with the start of each of 65,536 buckets (the hash's top
/// 16 bits), so a lookup is a binary search among ~m / 65,536 hashes.</para>
/// <para>The row hash kept is the low 64 bits of the stored 128: it is only ever compared with the one live row of the same
/// key, so a changed row passes for unchanged only if its new hash matches its old one's 64 bits by chance (2^-64 per changed
/// row; 5e-14 for a million of them). Rows without a stored hash (loaded before hashes, or by a version upload) never pass for
/// unchanged: they are staged in full and compared by value.</para>
/// <para>The ctid pairing is only a shortcut: the merge fetches each paired live row by its ctid and checks it is live and has
/// the key (<see cref="KeyedMerge"/>), and goes back to its join over the live rows if any pairing does not hold. The pairing
/// is complete, which is what lets a row without one be inserted unchecked, only when equal keys always encode to equal bytes
/// (no float8 key: -0 and 0, and NaNs, are equal in SQL, not in their bits) and no two live rows share a key hash (a key that
/// repeats, or a 64-bit collision: 3e-8 at 1M keys); otherwise the upload is staged without ctids and merged by the join, as
/// before, and the lookup stays exact by scanning every live row of a repeated key hash.</para>
/// </remarks>
internal sealed class LiveRowHashes
{
    private const int BucketBits = 16;
    private const ulong HasRowHash = 1UL << 63;
    private readonly LiveRow[] _rows;
    private readonly int _count;
    private readonly int[] _bucketStarts = new int[(1 << BucketBits) + 1];

    [StructLayout(LayoutKind.Sequential)]
    private readonly record struct LiveRow(ulong KeyHash, ulong Place, ulong RowHash) : IComparable<LiveRow>
    {
        public int CompareTo(LiveRow other) => KeyHash.CompareTo(other.KeyHash);
    }

    private LiveRowHashes(LiveRow[] rows, int count, bool keysEncodeExactly)
    {
        _rows = rows;
        _count = count;
        rows.AsSpan(0, count).Sort();
        var bucket = 0;
        var repeated = false;
        var hashless = 0;
        for (var i = 0; i < count; i++)
        {
            var b = (int)(rows[i].KeyHash >> (64 - BucketBits));
            while (bucket <= b) _bucketStarts[bucket++] = i;
            repeated |= i > 0 && rows[i].KeyHash == rows[i - 1].KeyHash;
            if ((rows[i].Place & HasRowHash) == 0) hashless++;
        }
        while (bucket <= 1 << BucketBits) _bucketStarts[bucket++] = count;
        Paired = keysEncodeExactly && !repeated;
        AllHashed = hashless == 0;
    }

    /// <summary>Live rows held; for tests and logs.</summary>
    public int Count => _count;

    /// <summary>
    /// Whether uploaded rows are paired with their live row's ctid (see the remarks): the staging table then has the
    /// <see cref="KeyedMerge.LiveColumn"/> column, and the merge fetches live rows by it.
    /// </summary>
    public bool Paired { get; }

    /// <summary>Every live row has its row hash (none loaded before hashes, or by a version upload), so a changed row is known
    /// as such without comparing values (<see cref="PairedLoad"/>).</summary>
    public bool AllHashed { get; }

    /// <summary>The hash an uploaded row's key is looked up by: XXH3 of each key column's binary COPY field in turn (length
    /// prefix included), each seeded with the hash so far.</summary>
    public static ulong KeyHash(ulong hashSoFar, ReadOnlySpan<byte> encodedField) => XxHash3.HashToUInt64(encodedField, (long)hashSoFar);

    /// <summary>
    /// Looks an uploaded row up by its key's hash: whether it is identical to a live row, and otherwise the ctid of the live row
    /// with its key (block &lt;&lt; 16 | offset), or -1 when there is none or the rows are not <see cref="Paired"/>.
    /// </summary>
    public bool IsUnchanged(ulong keyHash, UInt128 rowHash, out long livePlace)
    {
        livePlace = -1;
        var b = (int)(keyHash >> (64 - BucketBits));
        var bucket = _rows.AsSpan(_bucketStarts[b], _bucketStarts[b + 1] - _bucketStarts[b]);
        var at = bucket.BinarySearch(new LiveRow(keyHash, 0, 0));
        if (at < 0) return false;
        while (at > 0 && bucket[at - 1].KeyHash == keyHash) at--;
        var low = (ulong)rowHash;
        for (; at < bucket.Length && bucket[at].KeyHash == keyHash; at++)
        {
            var live = bucket[at];
            if ((live.Place & HasRowHash) != 0 && live.RowHash == low) return true;
            if (Paired) livePlace = (long)(live.Place & ~HasRowHash);
        }
        return false;
    }

    /// <summary>
    /// Reads <paramref name="table"/>'s live rows' key hashes, ctids and row hashes, those at or above the current version's
    /// <paramref name="floor"/> (one binary COPY; about <paramref name="liveRows"/> rows, which sizes the array up front).
    /// <paramref name="keyColumns"/> are the key's physical columns in the order the upload hashes them;
    /// <paramref name="keysEncodeExactly"/> says whether equal keys always have equal bytes (no float8 column among them).
    /// </summary>
    public static async Task<LiveRowHashes> ReadAsync(NpgsqlConnection connection, string table, int floor, IReadOnlyList<string> keyColumns,
        bool keysEncodeExactly, long liveRows, CancellationToken cancellationToken)
    {
        var rows = new LiveRow[Math.Max(liveRows, 16)];
        var count = 0;
        await using (var copy = await connection.BeginRawBinaryCopyAsync(
            $"COPY (SELECT ctid, {Storage.DataTables.RowHashColumn}, {string.Join(", ", keyColumns)} FROM {table} WHERE {Storage.DataTables.LiveFrom(floor)}) TO STDOUT (FORMAT BINARY)",
            cancellationToken))
        {
            var reader = new BinaryCopyReader(copy);
            while (await reader.NextRowAsync(cancellationToken) is { } row)
            {
                if (count == rows.Length) Array.Resize(ref rows, rows.Length * 2);
                rows[count++] = Parse(row.Span);
            }
        }
        return new LiveRowHashes(rows, count, keysEncodeExactly);
    }

    /// <summary>One COPY row: field count, ctid (6 bytes: block, offset), row hash (16 bytes or NULL), then the key's fields.</summary>
    private static LiveRow Parse(ReadOnlySpan<byte> row)
    {
        var block = BinaryPrimitives.ReadUInt32BigEndian(row[6..]);
        var offset = BinaryPrimitives.ReadUInt16BigEndian(row[10..]);
        var place = (ulong)block << 16 | offset;
        var at = 12;
        ulong rowHash = 0;
        if (BinaryPrimitives.ReadInt32BigEndian(row[at..]) == 16)
        {
            rowHash = (ulong)BinaryPrimitives.ReadUInt128BigEndian(row[(at + 4)..]);
            place |= HasRowHash;
            at += 20;
        }
        else at += 4;
        ulong keyHash = 0;
        while (at < row.Length)
        {
            var length = Math.Max(BinaryPrimitives.ReadInt32BigEndian(row[at..]), 0);
            keyHash = KeyHash(keyHash, row.Slice(at, 4 + length));
            at += 4 + length;
        }
        return new LiveRow(keyHash, place, rowHash);
    }
}
