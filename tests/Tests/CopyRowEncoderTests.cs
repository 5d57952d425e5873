using System.Buffers;
using DatasetPlatform.Grains.Import;

namespace DatasetPlatform.Tests;

/// <summary>
/// Rows counted for a row-by-row COPY and then loaded buffered after all get a NULL _vt after their _vf
/// (CopyRowEncoder.WriteWithNullSecondField): the result is byte for byte what encoding them with the column would have given,
/// whatever the other fields hold (NULLs, empty and long text, numbers).
/// </summary>
public sealed class CopyRowEncoderTests
{
    private static readonly Action<CopyRowEncoder>[][] Rows =
    [
        [e => e.WriteNull(), e => e.WriteText("abc"), e => e.WriteDouble(1.5)],
        [e => e.WriteText(""), e => e.WriteNull(), e => e.WriteInt64(-5)],
        [e => e.WriteText(new string('x', 5000)), e => e.WriteBoolean(true), e => e.WriteNull()],
    ];

    private static byte[] Encode(bool withVt)
    {
        var encoder = new CopyRowEncoder();
        var output = new ArrayBufferWriter<byte>();
        foreach (var fields in Rows)
        {
            encoder.BeginRow((short)(fields.Length + (withVt ? 2 : 1)));
            encoder.WriteInt32(7);
            if (withVt) encoder.WriteNull();
            foreach (var write in fields) write(encoder);
            output.Write(encoder.Row);
        }
        return output.WrittenSpan.ToArray();
    }

    [Fact]
    public void Rows_encoded_without_vt_get_it_as_their_second_field_exactly_as_if_encoded_with_it()
    {
        var output = new ArrayBufferWriter<byte>();
        CopyRowEncoder.WriteWithNullSecondField(Encode(withVt: false), output);
        Assert.Equal(Encode(withVt: true), output.WrittenSpan.ToArray());
    }
}
