using System.Globalization;
using DatasetPlatform.Grains.Import;

namespace DatasetPlatform.Tests;

/// <summary>The fast reading of plain decimals gives exactly double.Parse's double, or leaves the value to it.</summary>
public sealed class SimpleDecimalsTests
{
    [Theory]
    [InlineData("0")]
    [InlineData("-0")]
    [InlineData("-0.0")]
    [InlineData("+7")]
    [InlineData("1.")]
    [InlineData(".5")]
    [InlineData("-.25")]
    [InlineData("0.1")]
    [InlineData("0.3")]
    [InlineData("39673.9742")]
    [InlineData("-0.8168")]
    [InlineData("4615870.4090")]
    [InlineData("999999999999999")]
    [InlineData("0.00000000000001")]
    [InlineData("12345678.9012345")]
    [InlineData("000000000000001")]
    public void A_plain_decimal_reads_as_double_Parse_reads_it(string text)
    {
        Assert.True(SimpleDecimals.TryParse(text, out var value));
        var expected = double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
        Assert.Equal(BitConverter.DoubleToInt64Bits(expected), BitConverter.DoubleToInt64Bits(value));
    }

    [Theory]
    [InlineData("")]
    [InlineData("-")]
    [InlineData(".")]
    [InlineData("1e5")]
    [InlineData("1.2.3")]
    [InlineData("1,5")]
    [InlineData("--1")]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("1234567890123456")] // 16 digits: past the exact fast path
    [InlineData("0.1234567890123456")]
    [InlineData(" 1")]
    public void Anything_else_is_left_to_double_Parse(string text) => Assert.False(SimpleDecimals.TryParse(text, out _));

    [Fact]
    public void Random_decimals_of_every_length_read_exactly()
    {
        var random = new Random(4);
        for (var n = 0; n < 200_000; n++)
        {
            var digits = random.Next(1, 16);
            var text = new string([.. Enumerable.Range(0, digits).Select(_ => (char)('0' + random.Next(10)))]);
            var point = random.Next(digits + 1);
            text = (random.Next(3) == 0 ? "-" : "") + text[..point] + (point < digits || random.Next(2) == 0 ? "." : "") + text[point..];
            Assert.True(SimpleDecimals.TryParse(text, out var value), text);
            Assert.Equal(BitConverter.DoubleToInt64Bits(double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture)),
                BitConverter.DoubleToInt64Bits(value));
        }
    }
}
