using System.Text;
using System.Text.RegularExpressions;
using DatasetPlatform.Grains.Query;
using Xunit;

namespace DatasetPlatform.Tests;

public sealed class ODataFilterTests
{
    // The resolver the API would build from a dataset's columns: case-insensitive names, pre-quoted SQL.
    private static readonly Dictionary<string, FilterColumn> Columns = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Country"] = new("Country", "\"country\"", FilterValueKind.Text),
        ["Name"] = new("Name", "\"name\"", FilterValueKind.Text),
        ["Date"] = new("Date", "\"date\"", FilterValueKind.Date),
        ["Value"] = new("Value", "\"value\"", FilterValueKind.Number),
        ["Count"] = new("Count", "\"count\"", FilterValueKind.Integer),
        ["Updated"] = new("Updated", "\"updated\"", FilterValueKind.Timestamp),
        ["Active"] = new("Active", "\"active\"", FilterValueKind.Boolean),
        ["Región"] = new("Región", "\"region\"", FilterValueKind.Text),
        ["Country Name"] = new("Country Name", "\"country_name\"", FilterValueKind.Text),
        ["and"] = new("and", "\"and_col\"", FilterValueKind.Text),
    };

    private static FilterColumn? Resolve(string name) => Columns.GetValueOrDefault(name);

    private static string ParameterSql(int index, FilterValueKind kind) => $"@p{index}";

    private static (string? Sql, List<FilterParameter> Parameters) Translate(string? filter)
    {
        var parameters = new List<FilterParameter>();
        var sql = ODataFilter.ToSql(filter, Resolve, parameters, ParameterSql);
        return (sql, parameters);
    }

    private static string Fails(string filter)
    {
        var parameters = new List<FilterParameter>();
        var error = Assert.Throws<FilterException>(() => ODataFilter.ToSql(filter, Resolve, parameters, ParameterSql));
        Assert.Empty(parameters); // a failed translation never leaks half of its parameters
        return error.Message;
    }

    private static FilterParameter Single(string filter, FilterValueKind kind)
    {
        var (_, parameters) = Translate(filter);
        var parameter = Assert.Single(parameters);
        Assert.Equal(kind, parameter.Kind);
        return parameter;
    }

    // ------------------------------------------------------------------ the examples clients send

    [Fact]
    public void SdkEntityAndDateFilter()
    {
        var (sql, parameters) = Translate("('Country' eq 'USA' or 'Country' eq 'ARG') and 'Date' ge 2020-01-01");

        Assert.Equal("(((\"country\" = @p0) OR (\"country\" = @p1)) AND (\"date\" >= @p2))", sql);
        Assert.Equal(
            [
                new FilterParameter("USA", FilterValueKind.Text),
                new FilterParameter("ARG", FilterValueKind.Text),
                new FilterParameter(new DateOnly(2020, 1, 1), FilterValueKind.Date),
            ],
            parameters);
    }

    [Fact]
    public void BareColumnEquality()
    {
        var (sql, parameters) = Translate("Country eq 'USA'");

        Assert.Equal("(\"country\" = @p0)", sql);
        Assert.Equal([new FilterParameter("USA", FilterValueKind.Text)], parameters);
    }

    [Fact]
    public void MidnightDateTimeOnDateColumnIsTheDate()
    {
        var (sql, parameters) = Translate("'Date' le 2021-12-31T00:00:00");

        Assert.Equal("(\"date\" <= @p0)", sql);
        Assert.Equal([new FilterParameter(new DateOnly(2021, 12, 31), FilterValueKind.Date)], parameters);
    }

    [Fact]
    public void NumbersAndNot()
    {
        var (sql, parameters) = Translate("Value gt 10.5 and not (Value lt -3e2)");

        Assert.Equal("((\"value\" > @p0) AND (NOT (\"value\" < @p1)))", sql);
        Assert.Equal(
            [new FilterParameter(10.5, FilterValueKind.Number), new FilterParameter(-300.0, FilterValueKind.Number)],
            parameters);
    }

    [Fact]
    public void EscapedQuoteInString()
    {
        var (sql, parameters) = Translate("Name eq 'O''Brien'");

        Assert.Equal("(\"name\" = @p0)", sql);
        Assert.Equal([new FilterParameter("O'Brien", FilterValueKind.Text)], parameters);
    }

    [Theory]
    [InlineData("Value eq null", "(\"value\" IS NULL)")]
    [InlineData("Value ne null", "(\"value\" IS NOT NULL)")]
    [InlineData("null eq Value", "(\"value\" IS NULL)")]
    [InlineData("'Country' NE NULL", "(\"country\" IS NOT NULL)")]
    public void NullComparisons(string filter, string expected)
    {
        var (sql, parameters) = Translate(filter);

        Assert.Equal(expected, sql);
        Assert.Empty(parameters);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("\t\r\n")]
    public void EmptyFilterMeansNoFilter(string? filter)
    {
        var (sql, parameters) = Translate(filter);

        Assert.Null(sql);
        Assert.Empty(parameters);
    }

    // ------------------------------------------------------------------ operators, precedence, layout

    [Theory]
    [InlineData("Value eq 1", "=")]
    [InlineData("Value ne 1", "<>")]
    [InlineData("Value gt 1", ">")]
    [InlineData("Value ge 1", ">=")]
    [InlineData("Value lt 1", "<")]
    [InlineData("Value le 1", "<=")]
    [InlineData("Value LE 1", "<=")]
    public void OperatorsMapToSql(string filter, string sqlOperator)
    {
        Assert.Equal($"(\"value\" {sqlOperator} @p0)", Translate(filter).Sql);
    }

    [Fact]
    public void AndBindsTighterThanOr()
    {
        var (sql, _) = Translate("Value eq 1 or Value eq 2 and Value eq 3");

        Assert.Equal("((\"value\" = @p0) OR ((\"value\" = @p1) AND (\"value\" = @p2)))", sql);
    }

    [Fact]
    public void NotBindsTighterThanAnd()
    {
        var (sql, _) = Translate("not Value eq 1 and Value eq 2");

        Assert.Equal("((NOT (\"value\" = @p0)) AND (\"value\" = @p1))", sql);
    }

    [Fact]
    public void ParenthesesOverridePrecedence()
    {
        var (sql, _) = Translate("(Value eq 1 or Value eq 2) and Value eq 3");

        Assert.Equal("(((\"value\" = @p0) OR (\"value\" = @p1)) AND (\"value\" = @p2))", sql);
    }

    [Fact]
    public void ChainsStayFlat()
    {
        var (sql, parameters) = Translate("Value eq 1 and Value eq 2 and Value eq 3 or Count eq 4 or Count eq 5");

        Assert.Equal(
            "(((\"value\" = @p0) AND (\"value\" = @p1) AND (\"value\" = @p2)) OR (\"count\" = @p3) OR (\"count\" = @p4))",
            sql);
        Assert.Equal(5, parameters.Count);
    }

    [Fact]
    public void RedundantParenthesesAndNotNot()
    {
        Assert.Equal("(NOT (NOT (\"value\" = @p0)))", Translate("((not (not ((Value eq 1)))))").Sql);
    }

    [Fact]
    public void WhitespaceIsFlexible()
    {
        var (sql, parameters) = Translate("  (Country\teq\n'USA')or(Value gt 1)  ");

        Assert.Equal("((\"country\" = @p0) OR (\"value\" > @p1))", sql);
        Assert.Equal(2, parameters.Count);
    }

    [Fact]
    public void KeywordsAreCaseInsensitive()
    {
        var (sql, _) = Translate("NOT Country EQ 'USA' AND Value Gt 1 oR Active eq TRUE");

        Assert.Equal("(((NOT (\"country\" = @p0)) AND (\"value\" > @p1)) OR (\"active\" = @p2))", sql);
    }

    [Fact]
    public void ParameterIndexesContinueAnExistingList()
    {
        var parameters = new List<FilterParameter> { new("already there", FilterValueKind.Text) };

        var sql = ODataFilter.ToSql("Country eq 'USA' or Value eq 2", Resolve, parameters, ParameterSql);

        Assert.Equal("((\"country\" = @p1) OR (\"value\" = @p2))", sql);
        Assert.Equal(3, parameters.Count);
        Assert.Equal("USA", parameters[1].Value);
    }

    [Fact]
    public void ParameterSqlReceivesTheColumnKind()
    {
        var seen = new List<(int, FilterValueKind)>();
        var parameters = new List<FilterParameter>();

        ODataFilter.ToSql("Date ge 2020-01-01 and Count eq 3 and contains(Name, 'x')", Resolve, parameters, (i, kind) =>
        {
            seen.Add((i, kind));
            return $"${i + 1}";
        });

        Assert.Equal([(0, FilterValueKind.Date), (1, FilterValueKind.Integer), (2, FilterValueKind.Text)], seen);
    }

    // ------------------------------------------------------------------ columns and the quoted-token ambiguity

    [Fact]
    public void QuotedLeftThatIsAColumnMakesTheRightALiteralEvenIfItNamesAColumn()
    {
        var (sql, parameters) = Translate("'Country' eq 'Name'");

        Assert.Equal("(\"country\" = @p0)", sql);
        Assert.Equal("Name", Assert.Single(parameters).Value);
    }

    [Fact]
    public void QuotedLeftThatIsNotAColumnIsALiteral()
    {
        var (sql, parameters) = Translate("'USA' eq 'Country'");

        Assert.Equal("(\"country\" = @p0)", sql);
        Assert.Equal("USA", Assert.Single(parameters).Value);
    }

    [Theory]
    [InlineData("'USA' eq Country", "(\"country\" = @p0)")]
    [InlineData("5 lt Value", "(\"value\" > @p0)")]
    [InlineData("5 le Value", "(\"value\" >= @p0)")]
    [InlineData("5 gt 'Value'", "(\"value\" < @p0)")]
    [InlineData("5 ge Value", "(\"value\" <= @p0)")]
    [InlineData("5 ne Value", "(\"value\" <> @p0)")]
    [InlineData("2020-01-01 le 'Date'", "(\"date\" >= @p0)")]
    public void LiteralOnTheLeftFlipsTheOperator(string filter, string expected)
    {
        Assert.Equal(expected, Translate(filter).Sql);
    }

    [Fact]
    public void ColumnNamesGoThroughTheResolverCaseRulesIncluded()
    {
        var (sql, _) = Translate("COUNTRY eq 'x' and 'country' eq 'y'");

        Assert.Equal("((\"country\" = @p0) AND (\"country\" = @p1))", sql);
    }

    [Fact]
    public void UnicodeBareIdentifier()
    {
        var (sql, parameters) = Translate("Región eq 'Sur'");

        Assert.Equal("(\"region\" = @p0)", sql);
        Assert.Equal("Sur", Assert.Single(parameters).Value);
    }

    [Fact]
    public void KeywordNamedColumnMustBeQuoted()
    {
        Assert.Equal("(\"and_col\" = @p0)", Translate("'and' eq 'x'").Sql);
    }

    [Fact]
    public void UnquotedMultiWordColumnNameAsTheSdkWritesIt()
    {
        var (sql, parameters) = Translate("(Country Name eq 'Argentina' or Country Name eq 'Chile') and Value gt 1");

        Assert.Equal("(((\"country_name\" = @p0) OR (\"country_name\" = @p1)) AND (\"value\" > @p2))", sql);
        Assert.Equal("Argentina", parameters[0].Value);
    }

    [Fact]
    public void BooleanColumnAloneMeansTrue()
    {
        var (sql, parameters) = Translate("Active and not 'Active'");

        Assert.Equal("((\"active\" = @p0) AND (NOT (\"active\" = @p1)))", sql);
        Assert.All(parameters, p => Assert.Equal(new FilterParameter(true, FilterValueKind.Boolean), p));
    }

    // ------------------------------------------------------------------ literal conversion per column kind

    [Theory]
    [InlineData("Country eq 5", "5")]
    [InlineData("Country eq -1.50", "-1.50")]
    [InlineData("Country eq 1e3", "1e3")]
    [InlineData("Country eq 2020-01-01", "2020-01-01")]
    [InlineData("Country eq 2020-01-01T10:00:00Z", "2020-01-01T10:00:00Z")]
    [InlineData("Country eq true", "true")]
    [InlineData("Country eq ''", "")]
    [InlineData("Country eq ' spaced  '", " spaced  ")]
    public void TextColumnGetsTheLiteralsText(string filter, string expected)
    {
        Assert.Equal(expected, Single(filter, FilterValueKind.Text).Value);
    }

    [Theory]
    [InlineData("Value eq 10", 10.0)]
    [InlineData("Value eq -3e2", -300.0)]
    [InlineData("Value eq 1.5E-3", 0.0015)]
    [InlineData("Value eq .5", 0.5)]
    [InlineData("Value eq -.25", -0.25)]
    [InlineData("Value eq '5'", 5.0)]
    [InlineData("Value eq '-2.5e1'", -25.0)]
    public void NumberColumnGetsADouble(string filter, double expected)
    {
        Assert.Equal(expected, Assert.IsType<double>(Single(filter, FilterValueKind.Number).Value));
    }

    [Theory]
    [InlineData("Count eq 42", 42L)]
    [InlineData("Count eq -7", -7L)]
    [InlineData("Count eq '42'", 42L)]
    [InlineData("Count eq 1e3", 1000L)]
    [InlineData("Count eq 5.0", 5L)]
    [InlineData("Count eq 0.0e5", 0L)]
    [InlineData("Count eq 1234.5e1", 12345L)]
    [InlineData("Count eq 9223372036854775807", long.MaxValue)]
    [InlineData("Count eq -9223372036854775808", long.MinValue)]
    public void IntegerColumnGetsALong(string filter, long expected)
    {
        Assert.Equal(expected, Assert.IsType<long>(Single(filter, FilterValueKind.Integer).Value));
    }

    [Theory]
    [InlineData("Date eq 2020-02-29", 2020, 2, 29)]
    [InlineData("Date eq '2020-02-29'", 2020, 2, 29)]
    [InlineData("Date eq 2020-02-29T00:00", 2020, 2, 29)]
    [InlineData("Date eq 2020-02-29T00:00:00.000Z", 2020, 2, 29)]
    [InlineData("Date eq 2020-02-29T00:00:00-03:00", 2020, 2, 29)]
    public void DateColumnGetsADateOnly(string filter, int year, int month, int day)
    {
        Assert.Equal(new DateOnly(year, month, day), Single(filter, FilterValueKind.Date).Value);
    }

    [Fact]
    public void TimestampColumnFromDateIsMidnight()
    {
        var value = Assert.IsType<DateTime>(Single("Updated ge 2020-01-01", FilterValueKind.Timestamp).Value);

        Assert.Equal(new DateTime(2020, 1, 1, 0, 0, 0), value);
        Assert.Equal(DateTimeKind.Unspecified, value.Kind);
    }

    [Fact]
    public void TimestampWithoutOffsetIsWallClock()
    {
        var value = Assert.IsType<DateTime>(Single("Updated lt 2020-01-01T10:30", FilterValueKind.Timestamp).Value);

        Assert.Equal(new DateTime(2020, 1, 1, 10, 30, 0), value);
        Assert.Equal(DateTimeKind.Unspecified, value.Kind);
    }

    [Fact]
    public void TimestampWithFractionAndZIsUtc()
    {
        // Python's datetime.isoformat() writes microseconds: six fraction digits.
        var value = Assert.IsType<DateTime>(Single("Updated lt 2020-01-01T10:30:15.123456Z", FilterValueKind.Timestamp).Value);

        Assert.Equal(new DateTime(2020, 1, 1, 10, 30, 15, DateTimeKind.Utc).AddTicks(1_234_560), value);
        Assert.Equal(DateTimeKind.Utc, value.Kind);
    }

    [Fact]
    public void TimestampWithOffsetIsNormalizedToUtc()
    {
        var value = Assert.IsType<DateTime>(Single("'Updated' gt '2020-01-01T10:00:00-03:00'", FilterValueKind.Timestamp).Value);

        Assert.Equal(new DateTime(2020, 1, 1, 13, 0, 0, DateTimeKind.Utc), value);
        Assert.Equal(DateTimeKind.Utc, value.Kind);
    }

    [Theory]
    [InlineData("Active eq true", true)]
    [InlineData("Active eq FALSE", false)]
    [InlineData("Active ne 'True'", true)]
    [InlineData("false eq Active", false)]
    public void BooleanColumnGetsABool(string filter, bool expected)
    {
        Assert.Equal(expected, Single(filter, FilterValueKind.Boolean).Value);
    }

    [Theory]
    [InlineData("'Date' eq 'abc'", "'abc' is not a valid date for column 'Date'.")]
    [InlineData("Date eq 2021-02-29", "'2021-02-29' is not a valid date for column 'Date'.")]
    [InlineData("Date eq 2021-13-01", "'2021-13-01' is not a valid date for column 'Date'.")]
    [InlineData("Date eq 2021", "'2021' is not a valid date for column 'Date'.")]
    [InlineData("Date eq 2021-01-01T10:00", "'2021-01-01T10:00' is not a valid date for column 'Date': it has a time of day; use a date like 2021-01-01.")]
    [InlineData("Updated eq 2021-01-01T24:00", "'2021-01-01T24:00' is not a valid timestamp for column 'Updated'.")]
    [InlineData("Updated eq 2021-01-01T10:00+15:00", "'2021-01-01T10:00+15:00' is not a valid timestamp for column 'Updated'.")]
    [InlineData("Updated eq 0001-01-01T00:00+01:00", "'0001-01-01T00:00+01:00' is out of range for column 'Updated'.")]
    [InlineData("Updated eq 'yesterday'", "'yesterday' is not a valid timestamp for column 'Updated'.")]
    [InlineData("Value eq 'abc'", "'abc' is not a valid number for column 'Value'.")]
    [InlineData("Value eq ' 5'", "' 5' is not a valid number for column 'Value'.")]
    [InlineData("Value eq 'Infinity'", "'Infinity' is not a valid number for column 'Value'.")]
    [InlineData("Value eq 2020-01-01", "'2020-01-01' is not a valid number for column 'Value'.")]
    [InlineData("Value eq true", "'true' is not a valid number for column 'Value'.")]
    [InlineData("Value eq 1e999", "'1e999' is out of range for column 'Value'.")]
    [InlineData("Count eq 10.5", "'10.5' is not a valid integer for column 'Count'; it must be a whole number.")]
    [InlineData("Count eq 1.0000000000000000001", "'1.0000000000000000001' is not a valid integer for column 'Count'; it must be a whole number.")]
    [InlineData("Count eq 1e-40", "'1e-40' is not a valid integer for column 'Count'; it must be a whole number.")]
    [InlineData("Count eq 9223372036854775808", "'9223372036854775808' is out of range for column 'Count'.")]
    [InlineData("Count eq 1e30", "'1e30' is out of range for column 'Count'.")]
    [InlineData("Count eq 'seven'", "'seven' is not a valid integer for column 'Count'.")]
    [InlineData("Active eq 1", "'1' is not a valid boolean for column 'Active'.")]
    [InlineData("Active eq 'yes'", "'yes' is not a valid boolean for column 'Active'.")]
    public void ConversionErrors(string filter, string message)
    {
        Assert.Equal(message, Fails(filter));
    }

    // ------------------------------------------------------------------ functions

    [Theory]
    [InlineData("contains(Name, 'ar')", "%ar%")]
    [InlineData("startswith(Name, 'ar')", "ar%")]
    [InlineData("endswith(Name, 'ar')", "%ar")]
    [InlineData("CONTAINS('Name','ar')", "%ar%")]
    [InlineData("contains(Name, '50%_off\\')", "%50\\%\\_off\\\\%")]
    [InlineData("contains(Name, 2020)", "%2020%")]
    [InlineData("contains(Name, '')", "%%")]
    public void TextFunctionsBecomeLikeWithAnEscapedParameter(string filter, string pattern)
    {
        var (sql, parameters) = Translate(filter);

        Assert.Equal("(\"name\" LIKE @p0 ESCAPE '\\')", sql);
        Assert.Equal([new FilterParameter(pattern, FilterValueKind.Text)], parameters);
    }

    [Theory]
    [InlineData("contains(Name,'a') eq true", "(\"name\" LIKE @p0 ESCAPE '\\')")]
    [InlineData("contains(Name,'a') ne false", "(\"name\" LIKE @p0 ESCAPE '\\')")]
    [InlineData("contains(Name,'a') eq false", "(NOT (\"name\" LIKE @p0 ESCAPE '\\'))")]
    [InlineData("not startswith(Name,'a') and Value gt 1", "((NOT (\"name\" LIKE @p0 ESCAPE '\\')) AND (\"value\" > @p1))")]
    public void FunctionsCombineWithBooleans(string filter, string expected)
    {
        Assert.Equal(expected, Translate(filter).Sql);
    }

    [Theory]
    [InlineData("contains(Value, '1')", "contains() only works on text columns; 'Value' is a number column.")]
    [InlineData("substringof('x', Name)", "Unknown function 'substringof' at position 1. Supported functions: contains, startswith, endswith.")]
    [InlineData("contains(Nmae, 'x')", "Unknown column 'Nmae' in $filter.")]
    [InlineData("contains('Nmae', 'x')", "Unknown column 'Nmae' in $filter.")]
    [InlineData("contains(5, 'x')", "Expected a column name as the first argument of contains() at position 10, but found '5'.")]
    [InlineData("contains(Name 'x')", "Expected ',' after the column in contains() at position 15, but found 'x'.")]
    [InlineData("contains(Name, Country)", "Expected a text value in single quotes as the second argument of contains() at position 16, but found 'Country'.")]
    [InlineData("contains(Name, null)", "contains() needs a text value, not null (position 16).")]
    [InlineData("contains(Name, 'x'", "Expected ')' to close contains( at position 19, but the filter ended.")]
    [InlineData("contains(Name, 'x') eq 1", "contains() can only be compared with true or false; found '1' at position 24.")]
    public void FunctionErrors(string filter, string message)
    {
        Assert.Equal(message, Fails(filter));
    }

    // ------------------------------------------------------------------ syntax errors

    [Theory]
    [InlineData("Contry eq 'USA'", "Unknown column 'Contry' in $filter.")]
    [InlineData("'Contry' eq 'USA'", "Unknown column 'Contry' in $filter.")]
    [InlineData("5 eq 'Contry'", "Unknown column 'Contry' in $filter.")]
    [InlineData("Country eq USA", "Unknown column 'USA' in $filter. If USA is meant as text, put it in single quotes: 'USA'.")]
    [InlineData("Country = 'USA'", "Expected a comparison operator after 'Country' at position 9, but found '='. Use eq, ne, gt, ge, lt or le.")]
    [InlineData("'Country' 'USA'", "Expected a comparison operator after 'Country' at position 11, but found 'USA'. Use eq, ne, gt, ge, lt or le.")]
    [InlineData("Country", "Expected a comparison operator after 'Country' at position 8, but the filter ended. Use eq, ne, gt, ge, lt or le.")]
    [InlineData("'Country' eq 'USA", "Unterminated string literal starting at position 14.")]
    [InlineData("Name eq 'O''Brien", "Unterminated string literal starting at position 9.")]
    [InlineData("( 'Country' eq 'USA'))", "Unexpected ')' at position 22.")]
    [InlineData("Country eq 'USA' Value gt 1", "Unexpected 'Value' at position 18.")]
    [InlineData("Country eq 'USA'; drop table t", "Unexpected ';' at position 17.")]
    [InlineData("(Country eq 'USA'", "Missing ')' to close the '(' at position 1.")]
    [InlineData("(Country eq 'USA' ,", "Expected ')' to close the '(' at position 1, but found ',' at position 19.")]
    [InlineData("Country eq", "Expected a value after 'eq' at position 11, but the filter ended.")]
    [InlineData("Country eq and", "Expected a value after 'eq' at position 12, but found 'and'.")]
    [InlineData("Country eq 'USA' and", "Expected a condition at position 21, but the filter ended.")]
    [InlineData("and Country eq 'USA'", "Expected a condition at position 1, but found 'and'.")]
    [InlineData("()", "Expected a condition at position 2, but found ')'.")]
    [InlineData("\"Country\" eq 'USA'", "Expected a condition at position 1, but found '\"' (use single quotes for text and column names).")]
    [InlineData("Country eq 'USA' or\u0001", "Expected a condition at position 20, but found character U+0001.")]
    [InlineData("Country eq Name", "Comparing two columns ('Country' and 'Name') at position 12 is not supported; one side must be a value.")]
    [InlineData("5 eq 5", "The comparison at position 1 has no column; one side of 'eq' must be a column name.")]
    [InlineData("Country eq 'USA' or 1 eq 1", "The comparison at position 21 has no column; one side of 'eq' must be a column name.")]
    [InlineData("Value gt null", "null can only be compared with eq or ne, not 'gt' (position 7).")]
    [InlineData("Date ge 2020-1-1", "Invalid value '2020-1-1' at position 9. Numbers look like 10, -2.5 or 1e3; dates like 2020-01-31; timestamps like 2020-01-31T12:00:00Z; text must be in single quotes.")]
    [InlineData("Value gt 10abc", "Invalid value '10abc' at position 10. Numbers look like 10, -2.5 or 1e3; dates like 2020-01-31; timestamps like 2020-01-31T12:00:00Z; text must be in single quotes.")]
    [InlineData("Updated gt 2020-01-01T10:00:00.12345678", "Invalid value '2020-01-01T10:00:00.12345678' at position 12. Numbers look like 10, -2.5 or 1e3; dates like 2020-01-31; timestamps like 2020-01-31T12:00:00Z; text must be in single quotes.")]
    [InlineData("Value gt - 3", "Expected a value after 'gt' at position 10, but found '-'.")]
    [InlineData("Value gt 3 eq 4", "Unexpected 'eq' at position 12.")]
    public void SyntaxErrors(string filter, string message)
    {
        Assert.Equal(message, Fails(filter));
    }

    [Fact]
    public void LongTokensAreTruncatedInMessages()
    {
        var name = new string('x', 500);

        var message = Fails($"{name} eq 1");

        Assert.Equal($"Unknown column '{new string('x', 40)}…' in $filter.", message);
    }

    // ------------------------------------------------------------------ limits

    [Fact]
    public void NestingUpToTheLimitIsAccepted()
    {
        var depth = ODataFilter.MaxDepth;
        var filter = new string('(', depth) + "Value eq 1" + new string(')', depth);

        Assert.Equal("(\"value\" = @p0)", Translate(filter).Sql);
    }

    [Fact]
    public void ParenthesesBeyondTheLimitAreRejected()
    {
        var depth = ODataFilter.MaxDepth + 1;
        var filter = new string('(', depth) + "Value eq 1" + new string(')', depth);

        Assert.Equal(
            "The $filter is nested too deeply at position 65; at most 64 levels of parentheses and 'not' are allowed.",
            Fails(filter));
    }

    [Fact]
    public void NotChainsBeyondTheLimitAreRejected()
    {
        var filter = string.Concat(Enumerable.Repeat("not ", 1000)) + "Value eq 1";

        Assert.Equal(
            "The $filter is nested too deeply at position 257; at most 64 levels of parentheses and 'not' are allowed.",
            Fails(filter));
    }

    [Fact]
    public void UnclosedParenthesesBombIsRejectedWithoutStackOverflow()
    {
        Assert.StartsWith("The $filter is nested too deeply", Fails(new string('(', ODataFilter.MaxLength)));
    }

    [Fact]
    public void LongButFlatFilterIsAccepted()
    {
        var filter = string.Join(" or ", Enumerable.Repeat("Value eq 1", 500)); // 6996 characters
        var (sql, parameters) = Translate(filter);

        Assert.NotNull(sql);
        Assert.Equal(500, parameters.Count);
        Assert.EndsWith("(\"value\" = @p499))", sql, StringComparison.Ordinal);
    }

    [Fact]
    public void TooLongFilterIsRejected()
    {
        var filter = "Country eq '" + new string('a', ODataFilter.MaxLength) + "'";

        Assert.Equal("The $filter is too long (8013 characters); at most 8000 are allowed.", Fails(filter));
    }

    // ------------------------------------------------------------------ injection

    [Fact]
    public void QuotedColumnNameIsOnlyEverGivenToTheResolver()
    {
        const string hostile = "x\"; drop table t; --";
        var asked = new List<string>();
        var parameters = new List<FilterParameter>();

        var sql = ODataFilter.ToSql("'x\"; drop table t; --' eq 1", name =>
        {
            asked.Add(name);
            return name == hostile ? new FilterColumn("safe", "\"c1\"", FilterValueKind.Text) : null;
        }, parameters, ParameterSql);

        Assert.Equal("(\"c1\" = @p0)", sql);
        Assert.Contains(hostile, asked);
        Assert.Equal([new FilterParameter("1", FilterValueKind.Text)], parameters);
    }

    [Fact]
    public void UnknownHostileColumnNameIsRejected()
    {
        Assert.Equal("Unknown column 'x\"; drop table t; --' in $filter.", Fails("'x\"; drop table t; --' eq 1"));
    }

    [Fact]
    public void HostileBareColumnNameDoesNotParse()
    {
        var asked = new List<string>();

        Assert.Throws<FilterException>(() => ODataFilter.ToSql("x\"; drop table t; -- eq 1", name =>
        {
            asked.Add(name);
            return new FilterColumn(name, "\"c1\"", FilterValueKind.Text);
        }, [], ParameterSql));
        Assert.All(asked, name => Assert.Equal("x", name));
    }

    [Fact]
    public void HostileValueOnlyEndsUpAsAParameter()
    {
        var (sql, parameters) = Translate("Country eq '''); drop table t; --'");

        Assert.Equal("(\"country\" = @p0)", sql);
        Assert.Equal([new FilterParameter("'); drop table t; --", FilterValueKind.Text)], parameters);
    }

    [Fact]
    public void HostileLikePatternOnlyEndsUpAsAParameter()
    {
        var (sql, parameters) = Translate("contains(Name, ''') or 1=1 --')");

        Assert.Equal("(\"name\" LIKE @p0 ESCAPE '\\')", sql);
        Assert.Equal("%') or 1=1 --%", Assert.Single(parameters).Value);
    }

    [Theory]
    [InlineData("Country eq 'USA' or 1 eq 1")]
    [InlineData("Country eq 'USA' -- comment")]
    [InlineData("Country eq 'USA' /* x */")]
    [InlineData("Country eq 'USA' union select 1")]
    [InlineData("Country eq $$x$$")]
    [InlineData("Country eq E'\\x27'")]
    [InlineData("Country eq 'a'::text")]
    public void SqlSyntaxIsNotFilterSyntax(string filter)
    {
        Fails(filter);
    }

    // Random filters (valid ones from a small grammar, then often mutated with fragments and hostile characters) must either
    // fail with FilterException or produce SQL made only of resolver expressions, placeholders, fixed keywords,
    // operators and parentheses, with each parameter of its column's type.
    [Fact]
    public void RandomInputNeverLeaksUserTextIntoSql()
    {
        string[] fragments =
        [
            "Country", "'Country'", "Value", "Count", "Date", "Updated", "Active", "Name", "Country Name", "Región", "'and'",
            " eq ", " ne ", " gt ", " ge ", " lt ", " le ", " and ", " or ", " not ", "(", ")", ",", " ",
            "'USA'", "'O''Brien'", "'", "''", "null", "true", "false", "1", "-3e2", "10.5", "2020-01-01", "2020-01-01T00:00:00Z",
            "contains(", "startswith(", "endswith(", "drop", ";", "--", "\"", "/*", "\\", "%", "_", "$1", "::", "=", "é", "\u0000",
        ];
        var random = new Random(12345);
        var allowed = new Regex(
            "^(?:\\s|[()]|AND|OR|NOT|IS|NULL|LIKE|ESCAPE '\\\\'|=|<>|>=|<=|>|<|@p\\d+|\"country\"|\"name\"|\"date\"|\"value\"|\"count\"|\"updated\"|\"active\"|\"region\"|\"country_name\"|\"and_col\")*$",
            RegexOptions.CultureInvariant);
        var succeeded = 0;
        var failed = 0;

        for (var run = 0; run < 20_000; run++)
        {
            var filter = RandomCondition(random, 0);
            var mutations = random.Next(3);
            for (var m = 0; m < mutations; m++)
            {
                var at = random.Next(filter.Length + 1);
                filter = random.Next(2) == 0 && filter.Length > 0
                    ? filter.Remove(Math.Min(at, filter.Length - 1), 1)
                    : filter.Insert(at, fragments[random.Next(fragments.Length)]);
            }

            var parameters = new List<FilterParameter>();
            string? sql;
            try
            {
                sql = ODataFilter.ToSql(filter, Resolve, parameters, ParameterSql);
            }
            catch (FilterException)
            {
                failed++;
                Assert.Empty(parameters);
                continue;
            }

            if (sql is null)
            {
                Assert.True(string.IsNullOrWhiteSpace(filter));
                continue;
            }

            succeeded++;
            Assert.Matches(allowed, sql);
            Assert.All(parameters, p => Assert.IsType(ExpectedType(p.Kind), p.Value));
            for (var i = 0; i < parameters.Count; i++)
            {
                Assert.Contains($"@p{i}", sql, StringComparison.Ordinal);
            }
        }

        Assert.True(succeeded > 2_000 && failed > 2_000, $"{succeeded} valid and {failed} invalid random filters; the generator needs tuning");
    }

    private static string RandomCondition(Random random, int depth)
    {
        string[] values = ["'USA'", "'O''Brien'", "'%_\\'", "1", "-3e2", "10.5", "'5'", "2020-01-01", "2020-01-01T00:00:00", "2020-01-01T10:00:00+02:00", "true", "null", "'x\"; drop table t; --'"];
        string[] columns = ["Country", "'Country'", "Value", "Count", "Date", "Updated", "Active", "Name", "Country Name", "Región", "'and'"];
        string[] operators = ["eq", "ne", "gt", "ge", "lt", "le"];
        string[] functions = ["contains", "startswith", "endswith"];
        string Pick(string[] items) => items[random.Next(items.Length)];

        switch (depth < 4 ? random.Next(7) : random.Next(3))
        {
            case 0:
            case 1:
                return $"{Pick(columns)} {Pick(operators)} {Pick(values)}";
            case 2:
                return $"{Pick(values)} {Pick(operators)} {Pick(columns)}";
            case 3:
                return $"{Pick(functions)}({Pick(columns)}, {Pick(values)})";
            case 4:
                return $"not ({RandomCondition(random, depth + 1)})";
            case 5:
                return $"({RandomCondition(random, depth + 1)}) {(random.Next(2) == 0 ? "and" : "or")} {RandomCondition(random, depth + 1)}";
            default:
                return $"{RandomCondition(random, depth + 1)} {(random.Next(2) == 0 ? "AND" : "or")} ({RandomCondition(random, depth + 1)})";
        }
    }

    private static Type ExpectedType(FilterValueKind kind) => kind switch
    {
        FilterValueKind.Text => typeof(string),
        FilterValueKind.Number => typeof(double),
        FilterValueKind.Integer => typeof(long),
        FilterValueKind.Date => typeof(DateOnly),
        FilterValueKind.Timestamp => typeof(DateTime),
        FilterValueKind.Boolean => typeof(bool),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}
