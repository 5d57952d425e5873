using System.Buffers.Binary;
using Npgsql;

namespace DatasetPlatform.Grains.Import;

/// <summary>
/// The row hashes (<see cref="RowHash"/>) of a keyed dataset's live rows, held in memory while an upload is merged into it, so
/// that an uploaded row identical to a live one is known as such while it streams by: the COPY then stages only its key (the
/// merge needs every key for deleteMissing, and for its duplicate check when keys may repeat) or, without deleteMissing, nothing
/// (<see cref="CopyTarget.SkipUnchanged"/>), and the merge's join leaves it out.
/// </summary>
/// <remarks>
/// 16 bytes per live row (16 MB at 1M rows), sorted, with the start of each of 65,536 buckets (the hash's top 16 bits), so a
/// lookup is a binary search among ~m / 65,536 hashes. Rows without a hash (loaded before hashes were stored, or by a version
/// upload) are not in it: their uploaded twins are staged in full and compared by value.
/// </remarks>
internal sealed class LiveRowHashes
{
    private const int BucketBits = 16;
    private readonly UInt128[] _hashes;
    private readonly int _count;
    private readonly int[] _bucketStarts = new int[(1 << BucketBits) + 1];

    private LiveRowHashes(UInt128[] hashes, int count)
    {
        _hashes = hashes;
        _count = count;
        hashes.AsSpan(0, count).Sort();
        var bucket = 0;
        for (var i = 0; i < count; i++)
        {
            var b = (int)(hashes[i] >> (128 - BucketBits));
            while (bucket <= b) _bucketStarts[bucket++] = i;
        }
        while (bucket <= 1 << BucketBits) _bucketStarts[bucket++] = count;
    }

    /// <summary>Hashes held; for tests and logs.</summary>
    public int Count => _count;

    public bool Contains(UInt128 hash)
    {
        var b = (int)(hash >> (128 - BucketBits));
        return _hashes.AsSpan(_bucketStarts[b], _bucketStarts[b + 1] - _bucketStarts[b]).BinarySearch(hash) >= 0;
    }

    /// <summary>
    /// Reads the hashes of <paramref name="table"/>'s live rows, those at or above the current version's <paramref name="floor"/>
    /// (one binary COPY of the one column; about <paramref name="liveRows"/> of them, which sizes the array up front).
    /// </summary>
    public static async Task<LiveRowHashes> ReadAsync(NpgsqlConnection connection, string table, int floor, long liveRows, CancellationToken cancellationToken)
    {
        var hashes = new UInt128[Math.Max(liveRows, 16)];
        var count = 0;
        await using (var copy = await connection.BeginRawBinaryCopyAsync(
            $"COPY (SELECT {Storage.DataTables.RowHashColumn} FROM {table} WHERE {Storage.DataTables.LiveFrom(floor)} AND {Storage.DataTables.RowHashColumn} IS NOT NULL) TO STDOUT (FORMAT BINARY)",
            cancellationToken))
        {
            var buffer = new byte[1 << 16];
            int filled = 0, at = 0;
            var headerLeft = -1; // the header's length once known (signature 11, flags 4, extension length 4 + its bytes)
            var ended = false;
            while (true)
            {
                var read = await copy.ReadAsync(buffer.AsMemory(filled), cancellationToken);
                if (read == 0) break;
                filled += read;
                if (headerLeft < 0)
                {
                    if (filled < 19) continue;
                    headerLeft = 19 + BinaryPrimitives.ReadInt32BigEndian(buffer.AsSpan(15));
                }
                if (headerLeft > 0)
                {
                    var skip = Math.Min(headerLeft, filled - at);
                    at += skip;
                    headerLeft -= skip;
                }
                // A row: field count (2 bytes, 1), length (4 bytes, 16), the hash; the trailer is a field count of -1.
                while (!ended && headerLeft == 0 && filled - at >= 2)
                {
                    if (BinaryPrimitives.ReadInt16BigEndian(buffer.AsSpan(at)) == -1)
                    {
                        ended = true;
                        at += 2;
                        break;
                    }
                    if (filled - at < 22) break;
                    if (count == hashes.Length) Array.Resize(ref hashes, hashes.Length * 2);
                    hashes[count++] = BinaryPrimitives.ReadUInt128BigEndian(buffer.AsSpan(at + 6, 16));
                    at += 22;
                }
                // Keep the unread tail at the front of the buffer.
                buffer.AsSpan(at, filled - at).CopyTo(buffer);
                filled -= at;
                at = 0;
            }
            if (!ended) throw new InvalidDataException("The live row hashes ended before the COPY's trailer.");
        }
        return new LiveRowHashes(hashes, count);
    }
}
