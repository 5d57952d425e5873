using System.Buffers;
using System.Runtime.CompilerServices;

namespace DatasetPlatform.Grains.Storage;

/// <summary>
/// Arrays from the shared pool while they are small (at most <see cref="MaxPooledBytes"/>), plain ones past that. A small
/// upload's buffers are rented (new ones each time went to the large-object heap, whose budget then set off a full GC every few
/// uploads), but a big import's megabytes are left to the GC: the pool would keep them after the import (a 1M-row merge's
/// key hashes alone took the service from under 300 MB to 322 MB at its peak).
/// </summary>
internal static class SmallArrays<T>
{
    public const int MaxPooledBytes = 1 << 20;

    private static int MaxPooledLength => MaxPooledBytes / Unsafe.SizeOf<T>();

    /// <summary>An array of at least <paramref name="minimumLength"/>: rented when that is small, new otherwise.</summary>
    public static T[] Rent(int minimumLength) =>
        minimumLength <= MaxPooledLength ? ArrayPool<T>.Shared.Rent(minimumLength) : new T[minimumLength];

    /// <summary>Gives back an array from <see cref="Rent"/> (a big one is left to the GC; null or an empty one is ignored).</summary>
    public static void Return(T[]? array)
    {
        if (array is { Length: > 0 } && array.Length <= MaxPooledLength) ArrayPool<T>.Shared.Return(array);
    }
}
