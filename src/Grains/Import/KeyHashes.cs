using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using DatasetPlatform.Grains.Storage;

namespace DatasetPlatform.Grains.Import;

/// <summary>
/// 64-bit hashes of an upload's row keys, checked once at the end for repeats: a repeat means "maybe a duplicate" (the
/// database then decides exactly), no repeat means none, and the set-based duplicate check is skipped.
/// </summary>
/// <remarks>
/// Memory stays flat whatever the file size. Up to <see cref="InMemoryKeys"/> keys (8 MB) the hashes are in one array, checked
/// at the end (<see cref="HasRepeat"/>: as much again while it runs). Past that they are spilled to <see cref="Partitions"/>
/// temporary files by their top bits; a repeat can only sit within one partition, so each is read back and checked on its own
/// (at 10M rows: 1.25 MB each). Before, a capped array
/// doubled up to 8M keys (64 MB, plus the copy while growing), and past the cap every big upload paid the database's check.
/// </remarks>
internal sealed class KeyHashes : IDisposable
{
    internal const int InMemoryKeys = 1 << 20;
    private const int PartitionBits = 6;
    private const int Partitions = 1 << PartitionBits;
    private const int PartitionBufferBytes = 16 * 1024;

    /// <summary>
    /// Starting small and doubling, rented while small (<see cref="SmallArrays{T}"/>): a fixed 512 KB array per upload was the
    /// service's largest allocation under many small uploads (two per import, each on the large-object heap).
    /// </summary>
    private ulong[] _hashes = SmallArrays<ulong>.Rent(1 << 11);
    private int _count;
    private FileStream[]? _files;
    private byte[][]? _buffers;
    private int[]? _buffered;

    /// <summary>Hashes added; for tests and logs.</summary>
    public long Count { get; private set; }

    /// <summary>Whether the hashes went to temporary files (more than <see cref="InMemoryKeys"/> keys).</summary>
    public bool Spilled => _files is not null;

    public void Add(ulong hash)
    {
        Count++;
        if (_files is not null)
        {
            Spill(hash);
            return;
        }
        if (_count == _hashes.Length)
        {
            if (_count < InMemoryKeys)
            {
                var bigger = SmallArrays<ulong>.Rent(Math.Min(_hashes.Length * 2, InMemoryKeys));
                _hashes.AsSpan(0, _count).CopyTo(bigger);
                ReturnHashes();
                _hashes = bigger;
            }
            else
            {
                StartSpilling();
                Spill(hash);
                return;
            }
        }
        _hashes[_count++] = hash;
    }

    public bool MaySeeDuplicates
    {
        get
        {
            if (_files is null) return HasRepeat(_hashes.AsSpan(0, _count));
            var largest = 0L;
            for (var p = 0; p < Partitions; p++)
            {
                Flush(p);
                largest = Math.Max(largest, _files[p].Length);
            }
            var keys = SmallArrays<ulong>.Rent((int)(largest / sizeof(ulong)));
            try
            {
                foreach (var file in _files)
                {
                    var count = (int)(file.Length / sizeof(ulong));
                    file.Position = 0;
                    file.ReadExactly(MemoryMarshal.AsBytes(keys.AsSpan(0, count)));
                    if (HasRepeat(keys.AsSpan(0, count))) return true;
                }
                return false;
            }
            finally
            {
                SmallArrays<ulong>.Return(keys);
            }
        }
    }

    private const int BucketBits = 8;
    private const int Buckets = 1 << BucketBits;

    /// <summary>
    /// Whether a hash occurs twice. The hashes are spread by their low bits into buckets small enough for the cache (the top
    /// bits are those a spilled partition shares), then each bucket goes into an open-addressing table indexed by the bits
    /// above: a few nanoseconds per hash where sorting the whole span cost about 130 ms per million, after the COPY's last row.
    /// </summary>
    private static bool HasRepeat(ReadOnlySpan<ulong> hashes)
    {
        if (hashes.Length < 2) return false;
        Span<int> starts = stackalloc int[Buckets + 1];
        starts.Clear();
        foreach (var hash in hashes) starts[(int)(hash & (Buckets - 1)) + 1]++;
        var largest = 0;
        for (var b = 0; b < Buckets; b++)
        {
            largest = Math.Max(largest, starts[b + 1]);
            starts[b + 1] += starts[b];
        }
        var scattered = SmallArrays<ulong>.Rent(hashes.Length);
        var table = SmallArrays<ulong>.Rent((int)BitOperations.RoundUpToPowerOf2((uint)largest * 2));
        try
        {
            Span<int> next = stackalloc int[Buckets];
            starts[..Buckets].CopyTo(next);
            foreach (var hash in hashes) scattered[next[(int)(hash & (Buckets - 1))]++] = hash;
            for (var b = 0; b < Buckets; b++)
            {
                if (BucketHasRepeat(scattered.AsSpan(starts[b], starts[b + 1] - starts[b]), table)) return true;
            }
            return false;
        }
        finally
        {
            SmallArrays<ulong>.Return(table);
            SmallArrays<ulong>.Return(scattered);
        }
    }

    /// <summary>Linear probing at most half full; 0 marks a free slot, so the hash 0 is counted apart.</summary>
    private static bool BucketHasRepeat(ReadOnlySpan<ulong> bucket, ulong[] table)
    {
        if (bucket.Length < 2) return false;
        var slots = table.AsSpan(0, (int)BitOperations.RoundUpToPowerOf2((uint)bucket.Length * 2));
        slots.Clear();
        var mask = slots.Length - 1;
        var zero = false;
        foreach (var hash in bucket)
        {
            if (hash == 0)
            {
                if (zero) return true;
                zero = true;
                continue;
            }
            var i = (int)(hash >> BucketBits) & mask;
            while (slots[i] != 0)
            {
                if (slots[i] == hash) return true;
                i = (i + 1) & mask;
            }
            slots[i] = hash;
        }
        return false;
    }

    private void StartSpilling()
    {
        _files = new FileStream[Partitions];
        _buffers = new byte[Partitions][];
        _buffered = new int[Partitions];
        var directory = Path.GetTempPath();
        for (var p = 0; p < Partitions; p++)
        {
            // Deleted by the system when closed, also if this process dies: nothing to clean up after a crash.
            _files[p] = new FileStream(Path.Combine(directory, $"dp-keys-{Guid.NewGuid():N}"), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None,
                bufferSize: 0, FileOptions.DeleteOnClose);
            _buffers[p] = new byte[PartitionBufferBytes];
        }
        foreach (var hash in _hashes.AsSpan(0, _count)) Spill(hash);
        ReturnHashes();
        _count = 0;
    }

    private void Spill(ulong hash)
    {
        var p = (int)(hash >> (64 - PartitionBits));
        BinaryPrimitives.WriteUInt64LittleEndian(_buffers![p].AsSpan(_buffered![p]), hash);
        _buffered[p] += sizeof(ulong);
        if (_buffered[p] == PartitionBufferBytes) Flush(p);
    }

    private void Flush(int p)
    {
        _files![p].Write(_buffers![p], 0, _buffered![p]);
        _buffered[p] = 0;
    }

    private void ReturnHashes()
    {
        SmallArrays<ulong>.Return(_hashes);
        _hashes = [];
    }

    public void Dispose()
    {
        ReturnHashes();
        if (_files is null) return;
        foreach (var file in _files) file.Dispose();
        _files = null;
    }
}
