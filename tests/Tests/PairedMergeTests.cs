using Dapper;
using DatasetPlatform.Grains.Import;
using DatasetPlatform.Grains.Schema;
using DatasetPlatform.Grains.Storage;
using DatasetPlatform.Tests.Infrastructure;
using Npgsql;

namespace DatasetPlatform.Tests;

/// <summary>
/// A big re-upload pairs each changed row with its live row's ctid (<see cref="LiveRowHashes"/>), and the merge fetches the
/// live rows by those ctids (<see cref="KeyedMerge"/>). The ctids are a shortcut: these tests give the merge pairings that do
/// not hold, against a real table, and check the rows come out as the join over the live rows makes them.
/// (RowHashMergeTests runs the paired merge end to end through the Alphacast upload.)
/// </summary>
[Collection(nameof(PlatformCollection))]
public sealed class PairedMergeTests(PlatformFixture platform)
{
    private static readonly LoadPlan Plan = LoadPlan.Build(["Date", "Country", "Amount"],
        [
            new ManifestEntry { SourceName = "Date", DataType = "Date", DateFormat = "%Y-%m-%d" },
            new ManifestEntry { SourceName = "Country", DataType = "String", IsEntity = true },
            new ManifestEntry { SourceName = "Amount", DataType = "Decimal" },
        ],
        [], new LoadRules(RequireDate: true, SchemaDefinesColumns: false, UnknownColumns.Fail, RowKeys.Manifest), 0);

    private static readonly StagedHashes PairedStage = new(Stored: true, UnchangedMarked: true, Paired: true);

    [Fact]
    public async Task Live_rows_are_found_by_key_with_their_place_and_told_unchanged_by_hash()
    {
        var (datasetId, connection) = await NewDatasetAsync();
        await using var owned = connection;
        var places = await PlacesAsync(connection, datasetId);

        var live = await LiveRowHashes.ReadAsync(connection, DataTables.QualifiedName(datasetId), floor: 0, KeyPhysicals(), keysEncodeExactly: true, 3, default);

        Assert.True(live.Paired);
        Assert.Equal(3, live.Count);
        Assert.True(live.IsUnchanged(KeyHash("2020-01-01", "A"), HashOf("A"), out _));
        Assert.False(live.IsUnchanged(KeyHash("2020-01-01", "B"), HashOf("other"), out var placeOfB));
        Assert.Equal(places["B"], placeOfB);
        Assert.False(live.IsUnchanged(KeyHash("2020-01-02", "B"), HashOf("B"), out var placeOfNew));
        Assert.Equal(-1, placeOfNew);
    }

    [Fact]
    public async Task Live_rows_that_repeat_a_key_are_not_paired_and_each_still_tells_unchanged()
    {
        var (datasetId, connection) = await NewDatasetAsync();
        await using var owned = connection;
        await connection.ExecuteAsync($"INSERT INTO {DataTables.QualifiedName(datasetId)} (_vf, _h, {Physical("Date")}, {Physical("Country")}, {Physical("Amount")}) VALUES (0, @h, '2020-01-01', 'A', 7)",
            new { h = Guid.Parse("00000000-0000-0000-0000-0000000000a7") });

        var live = await LiveRowHashes.ReadAsync(connection, DataTables.QualifiedName(datasetId), floor: 0, KeyPhysicals(), keysEncodeExactly: true, 4, default);

        Assert.False(live.Paired);
        Assert.True(live.IsUnchanged(KeyHash("2020-01-01", "A"), HashOf("A"), out _));
        Assert.True(live.IsUnchanged(KeyHash("2020-01-01", "A"), (UInt128)0xa7UL, out _));
        Assert.False(live.IsUnchanged(KeyHash("2020-01-01", "A"), HashOf("other"), out var place));
        Assert.Equal(-1, place);
    }

    [Fact]
    public async Task A_key_of_float_columns_is_never_paired()
    {
        var (datasetId, connection) = await NewDatasetAsync();
        await using var owned = connection;

        var live = await LiveRowHashes.ReadAsync(connection, DataTables.QualifiedName(datasetId), floor: 0, KeyPhysicals(), keysEncodeExactly: false, 3, default);

        Assert.False(live.Paired);
        Assert.False(live.IsUnchanged(KeyHash("2020-01-01", "B"), HashOf("other"), out var place));
        Assert.Equal(-1, place);
    }

    [Fact]
    public async Task Pairings_that_hold_close_and_insert_by_ctid()
    {
        var (datasetId, connection) = await NewDatasetAsync();
        await using var owned = connection;
        var places = await PlacesAsync(connection, datasetId);

        var counts = await MergeAsync(connection, datasetId, [("A", 10, places["A"]), ("C", 3, places["C"]), ("D", 4, null)]);

        // A changed; C's hash differs but its values do not (compared by value: not an update); D is new.
        Assert.Equal(new MergeCounts(Inserted: 1, Updated: 1, Deleted: 0), counts);
        Assert.Equal(["A=10 v1", "B=2 v0", "C=3 v0", "D=4 v1"], await LiveAsync(connection, datasetId));
        Assert.Equal(["A=1 v0-1"], await ClosedAsync(connection, datasetId));
    }

    [Fact]
    public async Task A_pairing_that_does_not_hold_merges_by_the_join_instead()
    {
        var (datasetId, connection) = await NewDatasetAsync();
        await using var owned = connection;
        var places = await PlacesAsync(connection, datasetId);
        // A staged with B's place (keys that hashed alike), C with the place of a row that is closed by now.
        var stalePlace = places["C"];
        await connection.ExecuteAsync($"UPDATE {DataTables.QualifiedName(datasetId)} SET _vt = 0 WHERE {Physical("Country")} = 'C';" +
            $"INSERT INTO {DataTables.QualifiedName(datasetId)} (_vf, _h, {Physical("Date")}, {Physical("Country")}, {Physical("Amount")}) VALUES (0, NULL, '2020-01-01', 'C', 3)");

        var counts = await MergeAsync(connection, datasetId, [("A", 10, places["B"]), ("C", 30, stalePlace), ("D", 4, null)]);

        Assert.Equal(new MergeCounts(Inserted: 1, Updated: 2, Deleted: 0), counts);
        Assert.Equal(["A=10 v1", "B=2 v0", "C=30 v1", "D=4 v1"], await LiveAsync(connection, datasetId));
        Assert.Equal(["A=1 v0-1", "C=3 v0-0", "C=3 v0-1"], await ClosedAsync(connection, datasetId));
    }

    /// <summary>A table with live rows A=1, B=2, C=3 on 2020-01-01, each with the hash <see cref="HashOf"/> its country.</summary>
    private async Task<(long DatasetId, NpgsqlConnection Connection)> NewDatasetAsync()
    {
        var datasetId = 900_000_000L + Random.Shared.Next(1_000_000);
        var connection = new NpgsqlConnection(platform.ConnectionString);
        await connection.OpenAsync();
        var columns = string.Join(", ", Plan.Columns.Select(c => $"{c.Physical} {c.SqlType}"));
        await connection.ExecuteAsync($"CREATE TABLE {DataTables.QualifiedName(datasetId)} (_vf integer NOT NULL, _vt integer, {DataTables.RowHashColumn} uuid, {columns})");
        foreach (var (country, amount) in new[] { ("A", 1), ("B", 2), ("C", 3) })
        {
            await connection.ExecuteAsync($"INSERT INTO {DataTables.QualifiedName(datasetId)} (_vf, _h, {Physical("Date")}, {Physical("Country")}, {Physical("Amount")}) VALUES (0, @h, '2020-01-01', @country, @amount)",
                new { h = HashGuid(country), country, amount = (double)amount });
        }
        return (datasetId, connection);
    }

    private static async Task<MergeCounts> MergeAsync(NpgsqlConnection connection, long datasetId, (string Country, int Amount, long? Place)[] staged)
    {
        await using var transaction = await connection.BeginTransactionAsync();
        await connection.ExecuteAsync(KeyedMerge.CreateStageSql(Plan, PairedStage), transaction: transaction);
        foreach (var (country, amount, place) in staged)
        {
            await connection.ExecuteAsync(
                $"INSERT INTO pg_temp.dp_stage ({Physical("Date")}, {Physical("Country")}, {Physical("Amount")}, _h, {KeyedMerge.LiveColumn}) VALUES ('2020-01-01', @country, @amount, @h, @tid::tid)",
                new { country, amount = (double)amount, h = Guid.NewGuid(), tid = place is { } p ? $"({p >> 16},{p & 0xFFFF})" : null }, transaction);
        }
        var counts = await KeyedMerge.RunAsync(connection, transaction, datasetId, Plan, staged.Length, 3, floor: 0, version: 1, onConflictUpdate: true,
            deleteMissing: false, PairedStage, keyIndexMinRows: long.MaxValue, default);
        await transaction.CommitAsync();
        return counts;
    }

    private static async Task<Dictionary<string, long>> PlacesAsync(NpgsqlConnection connection, long datasetId)
    {
        var rows = await connection.QueryAsync<(string Country, string Ctid)>(
            $"SELECT {Physical("Country")}, ctid::text FROM {DataTables.QualifiedName(datasetId)} WHERE _vt IS NULL");
        return rows.ToDictionary(r => r.Country, r =>
        {
            var parts = r.Ctid.Trim('(', ')').Split(',');
            return long.Parse(parts[0]) << 16 | long.Parse(parts[1]);
        });
    }

    private static async Task<List<string>> LiveAsync(NpgsqlConnection connection, long datasetId) =>
        [.. await connection.QueryAsync<string>(
            $"SELECT {Physical("Country")} || '=' || {Physical("Amount")} || ' v' || _vf FROM {DataTables.QualifiedName(datasetId)} WHERE _vt IS NULL ORDER BY 1")];

    private static async Task<List<string>> ClosedAsync(NpgsqlConnection connection, long datasetId) =>
        [.. await connection.QueryAsync<string>(
            $"SELECT {Physical("Country")} || '=' || {Physical("Amount")} || ' v' || _vf || '-' || _vt FROM {DataTables.QualifiedName(datasetId)} WHERE _vt IS NOT NULL ORDER BY 1")];

    private static string Physical(string name) => Plan.Columns.Single(c => c.Name == name).Physical;

    private static List<string> KeyPhysicals() => [.. Plan.Loaded.Where(c => c.Column.IsKey).Select(c => c.Column.Physical)];

    /// <summary>The key hash an upload computes for this row: its key columns encoded as binary COPY, in load order.</summary>
    private static ulong KeyHash(string date, string country)
    {
        ulong hash = 0;
        foreach (var column in Plan.Loaded.Where(c => c.Column.IsKey))
        {
            var encoder = new CopyRowEncoder();
            encoder.BeginRow(1);
            if (column.Column.IsDate) encoder.WriteDate(DateTime.Parse(date, System.Globalization.CultureInfo.InvariantCulture));
            else encoder.WriteText(country);
            hash = LiveRowHashes.KeyHash(hash, encoder.Row[2..]);
        }
        return hash;
    }

    /// <summary>A made-up row hash per country, as stored in the table (any value works: the merge only compares them).</summary>
    private static UInt128 HashOf(string country) => new(0x5EED, (ulong)country.Aggregate(17L, (hash, c) => hash * 31 + c));

    private static Guid HashGuid(string country)
    {
        Span<byte> bytes = stackalloc byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt128BigEndian(bytes, HashOf(country));
        return new Guid(bytes, bigEndian: true);
    }
}
