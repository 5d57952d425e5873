using System.Text;

namespace DatasetPlatform.Grains.Import;

/// <summary>
/// A CSV file produced line by line as it is read (each line UTF-8, ended by a newline), so a file of any size exists without
/// being held in memory: the silo's import warm-up (<see cref="ImportWarmup"/>) and tests that upload big files.
/// </summary>
internal sealed class GeneratedCsvStream(IEnumerable<string> lines) : ForwardOnlyReadStream
{
    private readonly IEnumerator<string> _lines = lines.GetEnumerator();
    private byte[] _pending = [];
    private int _offset;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        while (_offset == _pending.Length)
        {
            if (!_lines.MoveNext()) return 0;
            _pending = Encoding.UTF8.GetBytes(_lines.Current + "\n");
            _offset = 0;
        }
        var count = Math.Min(buffer.Length, _pending.Length - _offset);
        _pending.AsSpan(_offset, count).CopyTo(buffer);
        _offset += count;
        return count;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromResult(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.FromResult(Read(buffer.AsSpan(offset, count)));

    protected override void Dispose(bool disposing)
    {
        if (disposing) _lines.Dispose();
        base.Dispose(disposing);
    }
}
