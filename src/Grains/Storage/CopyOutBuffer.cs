namespace DatasetPlatform.Grains.Storage;

/// <summary>
/// The bytes of a download on their way to the response: COPY reads land in it directly, and it is written out in
/// large pieces, never before it is full (see <see cref="RowReader.CopyToAsync"/> on early errors).
/// </summary>
internal sealed class CopyOutBuffer(Stream output)
{
    public const int Size = 1 << 16;
    // A read into less room than this would return a row in pieces, more reads for the same bytes.
    public const int MinimumRoom = 1 << 12;
    private readonly byte[] _bytes = new byte[Size];
    private int _length;
    private bool _started;

    public Memory<byte> Free => _bytes.AsMemory(_length);

    public void Commit(int count) => _length += count;

    public void TakeBack(int count) => _length -= count;

    /// <summary>Only with room left, which <see cref="WriteIfFullAsync"/> keeps.</summary>
    public void Append(byte value) => _bytes[_length++] = value;

    public async Task AppendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        // Once the response has started, a large piece goes out as it is (no copy); before, it fills the buffer first, so
        // that nothing is sent before a full buffer's worth.
        if (_started && bytes.Length >= Size - MinimumRoom)
        {
            await FlushAsync(cancellationToken);
            await output.WriteAsync(bytes, cancellationToken);
            return;
        }
        while (bytes.Length > 0)
        {
            var count = Math.Min(bytes.Length, Size - _length);
            bytes[..count].CopyTo(_bytes.AsMemory(_length));
            _length += count;
            bytes = bytes[count..];
            await WriteIfFullAsync(cancellationToken);
        }
    }

    public async Task WriteIfFullAsync(CancellationToken cancellationToken)
    {
        if (Size - _length < MinimumRoom) await FlushAsync(cancellationToken);
    }

    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (_length == 0) return;
        _started = true;
        await output.WriteAsync(_bytes.AsMemory(0, _length), cancellationToken);
        _length = 0;
    }
}
