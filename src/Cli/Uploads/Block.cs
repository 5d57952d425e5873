namespace DatasetPlatform.Cli.Uploads;

/// <summary>One Data8 block, ready to PATCH: its number, how many records, and the JSON body.</summary>
internal sealed record Block(int Number, long FirstRecord, int Records, ReadOnlyMemory<byte> Body);
