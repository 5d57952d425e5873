using System.Globalization;
using System.Text;

namespace DatasetPlatform.Grains.Query;

/// <summary>The kind of value a filterable column holds; it decides how literals are converted.</summary>
public enum FilterValueKind
{
    /// <summary>Text; parameters are <see cref="string"/>.</summary>
    Text,

    /// <summary>Floating-point number; parameters are <see cref="double"/>.</summary>
    Number,

    /// <summary>Whole number; parameters are <see cref="long"/>.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720:Identifier contains type name", Justification = "Part of the agreed public API.")]
    Integer,

    /// <summary>Calendar date; parameters are <see cref="DateOnly"/>.</summary>
    Date,

    /// <summary>Date and time; parameters are <see cref="DateTime"/>.</summary>
    Timestamp,

    /// <summary>True/false; parameters are <see cref="bool"/>.</summary>
    Boolean,
}

/// <summary>
/// A column the filter may reference: its user-facing name, the SQL expression to use
/// (already safely quoted by the caller), and its kind.
/// </summary>
/// <param name="Name">The user-facing column name, used in error messages.</param>
/// <param name="SqlExpression">SQL for the column, inserted verbatim; the caller must quote it safely.</param>
/// <param name="Kind">The kind of values the column holds.</param>
public sealed record FilterColumn(string Name, string SqlExpression, FilterValueKind Kind);

/// <summary>A literal from the filter, converted to its column's kind, to be sent as a SQL parameter.</summary>
/// <param name="Value">A <see cref="string"/>, <see cref="double"/>, <see cref="long"/>, <see cref="DateOnly"/>, <see cref="DateTime"/> or <see cref="bool"/>.</param>
/// <param name="Kind">The kind of the column the literal is compared with.</param>
public sealed record FilterParameter(object Value, FilterValueKind Kind);

/// <summary>The $filter is invalid; the message is meant for the API client.</summary>
public sealed class FilterException : Exception
{
    /// <summary>Creates the exception with a human-readable message.</summary>
    /// <param name="message">What is wrong and where.</param>
    public FilterException(string message) : base(message) { }
}

/// <summary>
/// Translates an OData-style <c>$filter</c> (as sent to the Alphacast API) into a PostgreSQL boolean expression.
/// </summary>
/// <remarks>
/// Grammar (keywords and function names are case-insensitive):
/// <code>
/// filter     := or-expr
/// or-expr    := and-expr ( 'or' and-expr )*
/// and-expr   := unary ( 'and' unary )*
/// unary      := 'not' unary | primary
/// primary    := '(' or-expr ')' | function | comparison | boolean-column
/// function   := ( 'contains' | 'startswith' | 'endswith' ) '(' column ',' literal ')' [ ( 'eq' | 'ne' ) ( 'true' | 'false' ) ]
/// comparison := operand ( 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le' ) operand   -- exactly one side is a column
/// operand    := column | literal
/// column     := bare-identifier | quoted-string
/// literal    := quoted-string | number | date | datetime | 'null' | 'true' | 'false'
/// </code>
/// User text never reaches the SQL: column names only go to the resolver (its <see cref="FilterColumn.SqlExpression"/>
/// is what is emitted) and every literal becomes a parameter. The only other SQL text emitted is fixed keywords,
/// operators and parentheses.
/// </remarks>
public static class ODataFilter
{
    /// <summary>Longest accepted filter, in characters; bounds tokens, parameters and work per request.</summary>
    public const int MaxLength = 8000;

    /// <summary>Deepest accepted nesting of parentheses and 'not'; bounds the parser's recursion.</summary>
    public const int MaxDepth = 64;

    /// <summary>Translates <paramref name="filter"/> into a SQL boolean expression, or null when the filter is empty.</summary>
    /// <param name="filter">The raw <c>$filter</c> text (already URL-decoded).</param>
    /// <param name="resolveColumn">Maps a user column name to a column (null = unknown); matching rules (case/accent) are the caller's.</param>
    /// <param name="parameters">Each literal is appended here, in order of appearance; nothing is appended when the filter is invalid.</param>
    /// <param name="parameterSql">Returns the SQL placeholder for the parameter at the given index of <paramref name="parameters"/>.</param>
    /// <param name="maxWordsInColumnName">The most space-separated words in any column name the resolver knows: a run of bare
    /// words is never tried as a column name longer than this, so resolving names stays linear in the filter's length.</param>
    /// <returns>A fully parenthesized SQL expression, or null for an empty or whitespace-only filter.</returns>
    /// <exception cref="FilterException">The filter is invalid; the message says what and where (positions are 1-based).</exception>
    public static string? ToSql(string? filter, Func<string, FilterColumn?> resolveColumn, List<FilterParameter> parameters, Func<int, FilterValueKind, string> parameterSql,
        int maxWordsInColumnName = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(resolveColumn);
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(parameterSql);

        if (string.IsNullOrWhiteSpace(filter))
        {
            return null;
        }

        // Checked before tokenizing so an oversized request costs nothing.
        if (filter.Length > MaxLength)
        {
            throw new FilterException($"The $filter is too long ({filter.Length} characters); at most {MaxLength} are allowed.");
        }

        var tokens = Tokenize(filter);
        var parser = new Parser(filter, tokens, resolveColumn, parameterSql, parameters.Count, maxWordsInColumnName);
        var sql = parser.ParseFilter();

        // Parameters are collected privately and only published on success, so a failed parse leaves the caller's list untouched.
        parameters.AddRange(parser.Parameters);
        return sql;
    }

    // ------------------------------------------------------------------ tokens

    private enum TokenKind
    {
        LeftParen,
        RightParen,
        Comma,
        Identifier, // bare word; may be a keyword, a function name or a column
        String,     // single-quoted; column name or text literal depending on context
        Number,
        Date,
        DateTime,
        Symbol,     // any other character; kept as a token so the parser can say what it expected instead
        End,
    }

    /// <param name="Kind">Token kind.</param>
    /// <param name="Raw">Source text of the token (quotes included for strings).</param>
    /// <param name="Text">Unescaped content for strings; same as <paramref name="Raw"/> otherwise.</param>
    /// <param name="Start">0-based offset into the filter.</param>
    private readonly record struct Token(TokenKind Kind, string Raw, string Text, int Start)
    {
        public int End => Start + Raw.Length;

        /// <summary>1-based position for messages: humans count the first character as 1.</summary>
        public int Position => Start + 1;
    }

    private static List<Token> Tokenize(string s)
    {
        var tokens = new List<Token>();
        var i = 0;
        while (i < s.Length)
        {
            var c = s[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }

            var start = i;
            switch (c)
            {
                case '(':
                    tokens.Add(new Token(TokenKind.LeftParen, "(", "(", start));
                    i++;
                    continue;
                case ')':
                    tokens.Add(new Token(TokenKind.RightParen, ")", ")", start));
                    i++;
                    continue;
                case ',':
                    tokens.Add(new Token(TokenKind.Comma, ",", ",", start));
                    i++;
                    continue;
                case '\'':
                    tokens.Add(ReadString(s, ref i));
                    continue;
            }

            if (StartsLiteral(s, i))
            {
                tokens.Add(ReadLiteral(s, ref i));
                continue;
            }

            if (Rune.TryGetRuneAt(s, i, out var rune) && (Rune.IsLetter(rune) || rune.Value == '_'))
            {
                i += rune.Utf16SequenceLength;
                while (i < s.Length && Rune.TryGetRuneAt(s, i, out rune) && IsIdentifierPart(rune))
                {
                    i += rune.Utf16SequenceLength;
                }

                var word = s[start..i];
                tokens.Add(new Token(TokenKind.Identifier, word, word, start));
                continue;
            }

            // Unknown character (e.g. '=', '"', '&'): keep a whole surrogate pair together so messages show it intact.
            var length = char.IsSurrogatePair(s, i) ? 2 : 1;
            var symbol = s.Substring(i, length);
            tokens.Add(new Token(TokenKind.Symbol, symbol, symbol, start));
            i += length;
        }

        tokens.Add(new Token(TokenKind.End, string.Empty, string.Empty, s.Length));
        return tokens;
    }

    private static bool IsIdentifierPart(Rune rune)
    {
        if (Rune.IsLetterOrDigit(rune) || rune.Value == '_')
        {
            return true;
        }

        // Combining accents, so decomposed (NFD) names like "Población" still form one word.
        var category = Rune.GetUnicodeCategory(rune);
        return category is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark;
    }

    private static Token ReadString(string s, ref int i)
    {
        var start = i;
        var text = new StringBuilder();
        i++; // opening quote
        while (true)
        {
            if (i >= s.Length)
            {
                throw new FilterException($"Unterminated string literal starting at position {start + 1}.");
            }

            var c = s[i];
            if (c == '\'')
            {
                // '' is an escaped quote inside the string; a single ' ends it.
                if (i + 1 < s.Length && s[i + 1] == '\'')
                {
                    text.Append('\'');
                    i += 2;
                    continue;
                }

                i++;
                break;
            }

            text.Append(c);
            i++;
        }

        return new Token(TokenKind.String, s[start..i], text.ToString(), start);
    }

    private static bool StartsLiteral(string s, int i)
    {
        static bool DigitAt(string s, int i) => i < s.Length && char.IsAsciiDigit(s[i]);

        var c = s[i];
        if (char.IsAsciiDigit(c))
        {
            return true;
        }

        if (c == '.')
        {
            return DigitAt(s, i + 1);
        }

        return c == '-' && (DigitAt(s, i + 1) || (i + 1 < s.Length && s[i + 1] == '.' && DigitAt(s, i + 2)));
    }

    private static bool IsLiteralChar(char c) =>
        char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or ':' or '+' or '-';

    // Reads the whole run of characters that can appear in a number or date literal and only then classifies it,
    // so that e.g. "2020-1-1" or "10abc" is reported as one bad value instead of a confusing sequence of tokens.
    private static Token ReadLiteral(string s, ref int i)
    {
        var start = i;
        i++;
        while (i < s.Length && IsLiteralChar(s[i]))
        {
            i++;
        }

        var raw = s[start..i];
        if (IsNumberSyntax(raw))
        {
            return new Token(TokenKind.Number, raw, raw, start);
        }

        switch (ParseTemporal(raw, out _, out _, out _))
        {
            case TemporalShape.Date:
                return new Token(TokenKind.Date, raw, raw, start);
            case TemporalShape.DateTime:
                return new Token(TokenKind.DateTime, raw, raw, start);
        }

        throw new FilterException(
            $"Invalid value {Show(raw)} at position {start + 1}. Numbers look like 10, -2.5 or 1e3; dates like 2020-01-31; " +
            "timestamps like 2020-01-31T12:00:00Z; text must be in single quotes.");
    }

    // ------------------------------------------------------------------ literal syntax and conversion

    /// <summary>-?(digits[.digits?] | .digits)([eE][+-]?digits)?  — ASCII digits only (char.IsDigit would admit other scripts).</summary>
    private static bool IsNumberSyntax(string s) => TrySplitNumber(s, out _, out _, out _, out _);

    private static bool TrySplitNumber(string s, out bool negative, out string integerDigits, out string fractionDigits, out long exponent)
    {
        negative = false;
        integerDigits = fractionDigits = string.Empty;
        exponent = 0;
        var i = 0;
        if (i < s.Length && s[i] == '-')
        {
            negative = true;
            i++;
        }

        var intStart = i;
        while (i < s.Length && char.IsAsciiDigit(s[i]))
        {
            i++;
        }

        integerDigits = s[intStart..i];
        if (i < s.Length && s[i] == '.')
        {
            i++;
            var fracStart = i;
            while (i < s.Length && char.IsAsciiDigit(s[i]))
            {
                i++;
            }

            fractionDigits = s[fracStart..i];
        }

        if (integerDigits.Length + fractionDigits.Length == 0)
        {
            return false;
        }

        if (i < s.Length && s[i] is 'e' or 'E')
        {
            i++;
            var exponentNegative = false;
            if (i < s.Length && s[i] is '+' or '-')
            {
                exponentNegative = s[i] == '-';
                i++;
            }

            var expStart = i;
            while (i < s.Length && char.IsAsciiDigit(s[i]))
            {
                // Saturate instead of overflowing; anything this large is out of range anyway.
                exponent = Math.Min(exponent * 10 + (s[i] - '0'), 1_000_000);
                i++;
            }

            if (i == expStart)
            {
                return false;
            }

            if (exponentNegative)
            {
                exponent = -exponent;
            }
        }

        return i == s.Length;
    }

    private enum IntegerResult { Ok, NotANumber, NotWhole, OutOfRange }

    // Exact decimal arithmetic on the digits: going through double or decimal would silently round
    // values like 1.0000000000000000001 or 1e-40 to whole numbers.
    private static IntegerResult ParseInteger(string s, out long value)
    {
        value = 0;
        if (!TrySplitNumber(s, out var negative, out var integerDigits, out var fractionDigits, out var exponent))
        {
            return IntegerResult.NotANumber;
        }

        var digits = integerDigits + fractionDigits;
        var first = digits.AsSpan().IndexOfAnyExcept('0');
        if (first < 0)
        {
            return IntegerResult.Ok; // zero, whatever its spelling
        }

        var last = digits.AsSpan().LastIndexOfAnyExcept('0');
        var point = integerDigits.Length + exponent; // index in `digits` where the decimal point falls
        if (last >= point)
        {
            return IntegerResult.NotWhole;
        }

        if (point - first > 19)
        {
            return IntegerResult.OutOfRange;
        }

        var whole = new StringBuilder();
        if (negative)
        {
            whole.Append('-');
        }

        whole.Append(digits, first, (int)Math.Min(point, digits.Length) - first);
        whole.Append('0', (int)Math.Max(0, point - digits.Length));
        return long.TryParse(whole.ToString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value)
            ? IntegerResult.Ok
            : IntegerResult.OutOfRange;
    }

    private enum TemporalShape { None, Date, DateTime }

    /// <summary>
    /// Recognizes YYYY-MM-DD and YYYY-MM-DDThh:mm[:ss[.f{1,7}]][Z|±hh:mm]. The shape is reported even when the
    /// components are out of range (<paramref name="valid"/> = false), so "2021-02-30" is a bad date, not a bad token.
    /// </summary>
    /// <param name="s">Candidate text (a literal token or the content of a quoted string).</param>
    /// <param name="wall">The date and time as written (offset not applied).</param>
    /// <param name="offset">The written offset (Z = zero), or null when none was given.</param>
    /// <param name="valid">Whether every component is in range.</param>
    private static TemporalShape ParseTemporal(string s, out DateTime wall, out TimeSpan? offset, out bool valid)
    {
        wall = default;
        offset = null;
        valid = false;

        int Digits(int at, int count)
        {
            if (at + count > s.Length)
            {
                return -1;
            }

            var n = 0;
            for (var k = at; k < at + count; k++)
            {
                if (!char.IsAsciiDigit(s[k]))
                {
                    return -1;
                }

                n = n * 10 + (s[k] - '0');
            }

            return n;
        }

        bool CharAt(int at, char c) => at < s.Length && s[at] == c;

        var year = Digits(0, 4);
        var month = Digits(5, 2);
        var day = Digits(8, 2);
        if (year < 0 || month < 0 || day < 0 || !CharAt(4, '-') || !CharAt(7, '-'))
        {
            return TemporalShape.None;
        }

        var dateValid = year >= 1 && month is >= 1 and <= 12 && day >= 1 && day <= DateTime.DaysInMonth(year, month);
        if (s.Length == 10)
        {
            valid = dateValid;
            if (valid)
            {
                wall = new DateTime(year, month, day, 0, 0, 0, DateTimeKind.Unspecified);
            }

            return TemporalShape.Date;
        }

        if (!(CharAt(10, 'T') || CharAt(10, 't')))
        {
            return TemporalShape.None;
        }

        var hour = Digits(11, 2);
        var minute = Digits(14, 2);
        if (hour < 0 || minute < 0 || !CharAt(13, ':'))
        {
            return TemporalShape.None;
        }

        var i = 16;
        var second = 0;
        long fractionTicks = 0;
        if (CharAt(i, ':'))
        {
            second = Digits(i + 1, 2);
            if (second < 0)
            {
                return TemporalShape.None;
            }

            i += 3;
            if (CharAt(i, '.'))
            {
                var fracStart = ++i;
                while (i < s.Length && char.IsAsciiDigit(s[i]))
                {
                    i++;
                }

                var fracLength = i - fracStart;
                if (fracLength is < 1 or > 7) // 7 digits = 100 ns ticks, DateTime's resolution
                {
                    return TemporalShape.None;
                }

                fractionTicks = Digits(fracStart, fracLength);
                for (var k = fracLength; k < 7; k++)
                {
                    fractionTicks *= 10;
                }
            }
        }

        var offsetValid = true;
        if (CharAt(i, 'Z') || CharAt(i, 'z'))
        {
            offset = TimeSpan.Zero;
            i++;
        }
        else if (CharAt(i, '+') || CharAt(i, '-'))
        {
            var sign = s[i] == '-' ? -1 : 1;
            var offsetHours = Digits(i + 1, 2);
            var offsetMinutes = Digits(i + 4, 2);
            if (offsetHours < 0 || offsetMinutes < 0 || !CharAt(i + 3, ':'))
            {
                return TemporalShape.None;
            }

            offsetValid = offsetMinutes < 60 && offsetHours * 60 + offsetMinutes <= 14 * 60;
            offset = TimeSpan.FromMinutes(sign * (offsetHours * 60 + offsetMinutes));
            i += 6;
        }

        if (i != s.Length)
        {
            return TemporalShape.None;
        }

        valid = dateValid && offsetValid && hour < 24 && minute < 60 && second < 60;
        if (valid)
        {
            wall = new DateTime(year, month, day, hour, minute, second, DateTimeKind.Unspecified).AddTicks(fractionTicks);
        }

        return TemporalShape.DateTime;
    }

    /// <summary>Quotes user text for a message, truncated so a huge token cannot bloat the error.</summary>
    private static string Show(string text)
    {
        const int max = 40;
        return text.Length <= max ? $"'{text}'" : $"'{text[..max]}…'";
    }

    // ------------------------------------------------------------------ parser

    private sealed class Parser
    {
        private static readonly string[] ComparisonOperators = ["eq", "ne", "gt", "ge", "lt", "le"];
        private static readonly string[] Keywords = ["and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "null", "true", "false"];
        private static readonly string[] Functions = ["contains", "startswith", "endswith"];

        private readonly string _source;
        private readonly List<Token> _tokens;
        private readonly Func<string, FilterColumn?> _resolveColumn;
        private readonly Func<int, FilterValueKind, string> _parameterSql;
        private readonly int _firstParameterIndex;
        private readonly int _maxWordsInColumnName;
        private int _next;
        private int _depth;

        public Parser(string source, List<Token> tokens, Func<string, FilterColumn?> resolveColumn, Func<int, FilterValueKind, string> parameterSql, int firstParameterIndex,
            int maxWordsInColumnName)
        {
            _maxWordsInColumnName = Math.Max(1, maxWordsInColumnName);
            _source = source;
            _tokens = tokens;
            _resolveColumn = resolveColumn;
            _parameterSql = parameterSql;
            _firstParameterIndex = firstParameterIndex;
        }

        public List<FilterParameter> Parameters { get; } = [];

        public string ParseFilter()
        {
            var sql = ParseOr();
            var extra = Peek();
            if (extra.Kind != TokenKind.End)
            {
                throw new FilterException($"Unexpected {Describe(extra)} at position {extra.Position}.");
            }

            return sql;
        }

        // Chains are kept flat, "(a OR b OR c)", so long chains do not nest the output (or the recursion).
        private string ParseOr()
        {
            var first = ParseAnd();
            if (!IsKeyword(Peek(), "or"))
            {
                return first;
            }

            var parts = new List<string> { first };
            while (IsKeyword(Peek(), "or"))
            {
                Advance();
                parts.Add(ParseAnd());
            }

            return "(" + string.Join(" OR ", parts) + ")";
        }

        private string ParseAnd()
        {
            var first = ParseUnary();
            if (!IsKeyword(Peek(), "and"))
            {
                return first;
            }

            var parts = new List<string> { first };
            while (IsKeyword(Peek(), "and"))
            {
                Advance();
                parts.Add(ParseUnary());
            }

            return "(" + string.Join(" AND ", parts) + ")";
        }

        private string ParseUnary()
        {
            var token = Peek();
            if (!IsKeyword(token, "not"))
            {
                return ParsePrimary();
            }

            Advance();
            Enter(token);
            var operand = ParseUnary();
            _depth--;
            return $"(NOT {operand})";
        }

        private string ParsePrimary()
        {
            var token = Peek();
            if (token.Kind == TokenKind.LeftParen)
            {
                Advance();
                Enter(token);
                var inner = ParseOr();
                var close = Advance();
                if (close.Kind != TokenKind.RightParen)
                {
                    throw close.Kind == TokenKind.End
                        ? new FilterException($"Missing ')' to close the '(' at position {token.Position}.")
                        : new FilterException($"Expected ')' to close the '(' at position {token.Position}, but found {Describe(close)} at position {close.Position}.");
                }

                _depth--;
                return inner; // already parenthesized
            }

            if (token.Kind == TokenKind.Identifier && !IsAnyKeyword(token) && PeekAt(1).Kind == TokenKind.LeftParen)
            {
                return ParseFunction();
            }

            return ParseComparison();
        }

        private void Enter(Token token)
        {
            if (++_depth > MaxDepth)
            {
                throw new FilterException($"The $filter is nested too deeply at position {token.Position}; at most {MaxDepth} levels of parentheses and 'not' are allowed.");
            }
        }

        private string ParseComparison()
        {
            var leftToken = Advance();
            if (!IsOperand(leftToken))
            {
                throw new FilterException($"Expected a condition at position {leftToken.Position}, {Found(leftToken)}.");
            }

            // Left side: a bare word is always a column; a quoted string is a column only if the resolver knows it.
            FilterColumn? leftColumn = null;
            if (leftToken.Kind == TokenKind.Identifier && !IsAnyKeyword(leftToken))
            {
                (leftColumn, leftToken) = ReadBareColumn(leftToken, valueHint: false);
            }
            else if (leftToken.Kind == TokenKind.String)
            {
                leftColumn = _resolveColumn(leftToken.Text);
            }

            var operatorToken = Peek();
            if (!IsComparisonOperator(operatorToken))
            {
                // A boolean column on its own ("Active", "not Active") reads naturally as "is true".
                if (leftColumn is { Kind: FilterValueKind.Boolean } && EndsCondition(operatorToken))
                {
                    return $"({leftColumn.SqlExpression} = {AddParameter(true, FilterValueKind.Boolean)})";
                }

                throw new FilterException(
                    $"Expected a comparison operator after {Describe(leftToken)} at position {operatorToken.Position}, {Found(operatorToken)}. Use eq, ne, gt, ge, lt or le.");
            }

            Advance();
            var op = operatorToken.Text.ToLowerInvariant();
            var rightToken = Advance();
            if (!IsOperand(rightToken))
            {
                throw new FilterException($"Expected a value after '{operatorToken.Text}' at position {rightToken.Position}, {Found(rightToken)}.");
            }

            if (leftColumn is not null)
            {
                if (rightToken.Kind == TokenKind.Identifier && !IsAnyKeyword(rightToken))
                {
                    // Most likely a text value missing its quotes ("Country eq USA"); say so if it is not a column either.
                    var (rightColumn, rightName) = ReadBareColumn(rightToken, valueHint: true);
                    throw new FilterException(
                        $"Comparing two columns ({Show(leftColumn.Name)} and {Show(rightColumn.Name)}) at position {rightName.Position} is not supported; one side must be a value.");
                }

                return Compare(leftColumn, op, rightToken, operatorToken);
            }

            // The left side is a value, so the right side must be the column: "'USA' eq Country" == "Country eq 'USA'".
            FilterColumn? column = null;
            if (rightToken.Kind == TokenKind.Identifier && !IsAnyKeyword(rightToken))
            {
                (column, _) = ReadBareColumn(rightToken, valueHint: false);
            }
            else if (rightToken.Kind == TokenKind.String)
            {
                column = _resolveColumn(rightToken.Text);
            }

            if (column is null)
            {
                // A quoted name is the likeliest column the user meant; report the left one first, the usual place for columns.
                var quoted = leftToken.Kind == TokenKind.String ? leftToken
                    : rightToken.Kind == TokenKind.String ? rightToken
                    : (Token?)null;
                throw quoted is { } unknown
                    ? UnknownColumn(unknown.Text)
                    : new FilterException($"The comparison at position {leftToken.Position} has no column; one side of '{operatorToken.Text}' must be a column name.");
            }

            return Compare(column, Flip(op), leftToken, operatorToken);
        }

        private string Compare(FilterColumn column, string op, Token literal, Token operatorToken)
        {
            if (IsKeyword(literal, "null"))
            {
                return op switch
                {
                    "eq" => $"({column.SqlExpression} IS NULL)",
                    "ne" => $"({column.SqlExpression} IS NOT NULL)",
                    _ => throw new FilterException($"null can only be compared with eq or ne, not '{operatorToken.Text}' (position {operatorToken.Position})."),
                };
            }

            var sqlOperator = op switch
            {
                "eq" => "=",
                "ne" => "<>",
                "gt" => ">",
                "ge" => ">=",
                "lt" => "<",
                "le" => "<=",
                _ => throw new InvalidOperationException($"Unhandled operator {op}."),
            };
            var value = Convert(literal, column);
            return $"({column.SqlExpression} {sqlOperator} {AddParameter(value, column.Kind)})";
        }

        private string ParseFunction()
        {
            var nameToken = Advance();
            var name = nameToken.Text.ToLowerInvariant();
            if (Array.IndexOf(Functions, name) < 0)
            {
                throw new FilterException($"Unknown function {Show(nameToken.Text)} at position {nameToken.Position}. Supported functions: contains, startswith, endswith.");
            }

            Advance(); // '(' (checked by the caller)

            var columnToken = Advance();
            FilterColumn column;
            if (columnToken.Kind == TokenKind.Identifier && !IsAnyKeyword(columnToken))
            {
                (column, columnToken) = ReadBareColumn(columnToken, valueHint: false);
            }
            else if (columnToken.Kind == TokenKind.String)
            {
                column = _resolveColumn(columnToken.Text) ?? throw UnknownColumn(columnToken.Text);
            }
            else
            {
                throw new FilterException($"Expected a column name as the first argument of {name}() at position {columnToken.Position}, {Found(columnToken)}.");
            }

            var comma = Advance();
            if (comma.Kind != TokenKind.Comma)
            {
                throw new FilterException($"Expected ',' after the column in {name}() at position {comma.Position}, {Found(comma)}.");
            }

            var valueToken = Advance();
            if (!IsOperand(valueToken) || (valueToken.Kind == TokenKind.Identifier && !IsKeyword(valueToken, "null") && !IsKeyword(valueToken, "true") && !IsKeyword(valueToken, "false")))
            {
                throw new FilterException($"Expected a text value in single quotes as the second argument of {name}() at position {valueToken.Position}, {Found(valueToken)}.");
            }

            if (IsKeyword(valueToken, "null"))
            {
                throw new FilterException($"{name}() needs a text value, not null (position {valueToken.Position}).");
            }

            var close = Advance();
            if (close.Kind != TokenKind.RightParen)
            {
                throw new FilterException($"Expected ')' to close {name}( at position {close.Position}, {Found(close)}.");
            }

            if (column.Kind != FilterValueKind.Text)
            {
                throw new FilterException($"{name}() only works on text columns; {Show(column.Name)} is a {KindName(column.Kind)} column.");
            }

            // The pattern is a parameter too; escaping makes %, _ and \ in the user's text match literally.
            var escaped = valueToken.Text.Replace("\\", "\\\\", StringComparison.Ordinal)
                .Replace("%", "\\%", StringComparison.Ordinal)
                .Replace("_", "\\_", StringComparison.Ordinal);
            var pattern = name switch
            {
                "contains" => $"%{escaped}%",
                "startswith" => $"{escaped}%",
                _ => $"%{escaped}",
            };
            var sql = $"({column.SqlExpression} LIKE {AddParameter(pattern, FilterValueKind.Text)} ESCAPE '\\')";

            // OData clients often write "contains(Name,'x') eq true"; accept a comparison with a boolean constant.
            var next = Peek();
            if (IsKeyword(next, "eq") || IsKeyword(next, "ne"))
            {
                Advance();
                var constant = Advance();
                if (!IsKeyword(constant, "true") && !IsKeyword(constant, "false"))
                {
                    throw new FilterException($"{name}() can only be compared with true or false; found {Describe(constant)} at position {constant.Position}.");
                }

                var wantTrue = IsKeyword(next, "eq") == IsKeyword(constant, "true");
                return wantTrue ? sql : $"(NOT {sql})";
            }

            return sql;
        }

        /// <summary>
        /// Reads a bare column name starting at <paramref name="first"/> (already consumed). The Alphacast SDK writes
        /// entity names unquoted, so a name with spaces ("Country Name eq 'AR'") arrives as several words: the longest run
        /// of words the resolver knows wins; otherwise the single word is the column.
        /// </summary>
        private (FilterColumn Column, Token NameToken) ReadBareColumn(Token first, bool valueHint)
        {
            var runLength = 0;
            // No column name has more words than the longest one, so a longer run is never tried (each try costs its length).
            while (runLength + 1 < _maxWordsInColumnName && PeekAt(runLength) is { Kind: TokenKind.Identifier } word && !IsAnyKeyword(word))
            {
                runLength++;
            }

            for (var extra = runLength; extra > 0; extra--)
            {
                var lastWord = PeekAt(extra - 1);
                var source = _source[first.Start..lastWord.End];
                if (_resolveColumn(source) is { } multiWord)
                {
                    _next += extra;
                    return (multiWord, new Token(TokenKind.Identifier, source, source, first.Start));
                }
            }

            if (_resolveColumn(first.Text) is { } column)
            {
                return (column, first);
            }

            var error = UnknownColumn(first.Text);
            throw valueHint
                ? new FilterException($"{error.Message} If {first.Text} is meant as text, put it in single quotes: '{first.Text}'.")
                : error;
        }

        private static object Convert(Token literal, FilterColumn column)
        {
            var isString = literal.Kind == TokenKind.String;
            var text = literal.Text; // string content, or the literal as written

            FilterException Invalid() => new($"{Show(text)} is not a valid {KindName(column.Kind)} for column {Show(column.Name)}.");

            switch (column.Kind)
            {
                case FilterValueKind.Text:
                    return text;

                case FilterValueKind.Number:
                    if ((literal.Kind == TokenKind.Number || isString) && IsNumberSyntax(text)
                        && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
                    {
                        return double.IsFinite(number)
                            ? number
                            : throw new FilterException($"{Show(text)} is out of range for column {Show(column.Name)}.");
                    }

                    throw Invalid();

                case FilterValueKind.Integer:
                    if (literal.Kind == TokenKind.Number || isString)
                    {
                        switch (ParseInteger(text, out var integer))
                        {
                            case IntegerResult.Ok:
                                return integer;
                            case IntegerResult.NotWhole:
                                throw new FilterException($"{Show(text)} is not a valid integer for column {Show(column.Name)}; it must be a whole number.");
                            case IntegerResult.OutOfRange:
                                throw new FilterException($"{Show(text)} is out of range for column {Show(column.Name)}.");
                        }
                    }

                    throw Invalid();

                case FilterValueKind.Date:
                case FilterValueKind.Timestamp:
                    if (literal.Kind is TokenKind.Date or TokenKind.DateTime || isString)
                    {
                        var shape = ParseTemporal(text, out var wall, out var offset, out var valid);
                        if (shape != TemporalShape.None && valid)
                        {
                            return column.Kind == FilterValueKind.Date
                                ? ToDate(wall, text, column)
                                : ToTimestamp(wall, offset, text, column);
                        }
                    }

                    throw Invalid();

                case FilterValueKind.Boolean:
                    if ((IsKeyword(literal, "true") || isString) && string.Equals(text, "true", StringComparison.OrdinalIgnoreCase))
                    {
                        return true;
                    }

                    if ((IsKeyword(literal, "false") || isString) && string.Equals(text, "false", StringComparison.OrdinalIgnoreCase))
                    {
                        return false;
                    }

                    throw Invalid();

                default:
                    throw new InvalidOperationException($"Unhandled column kind {column.Kind}.");
            }
        }

        private static DateOnly ToDate(DateTime wall, string text, FilterColumn column)
        {
            // The SDK sends datetime.isoformat(), e.g. 2020-01-01T00:00:00, for date bounds: midnight is the date itself.
            // Any other time of day would silently change the meaning of the bound, so it is rejected.
            if (wall.TimeOfDay != TimeSpan.Zero)
            {
                throw new FilterException($"{Show(text)} is not a valid date for column {Show(column.Name)}: it has a time of day; use a date like {wall:yyyy-MM-dd}.");
            }

            return DateOnly.FromDateTime(wall);
        }

        private static DateTime ToTimestamp(DateTime wall, TimeSpan? offset, string text, FilterColumn column)
        {
            if (offset is not { } written)
            {
                return wall; // DateTimeKind.Unspecified: a wall-clock time as written
            }

            // An explicit offset (or Z) pins an instant: normalize it to UTC.
            var utcTicks = wall.Ticks - written.Ticks;
            if (utcTicks < DateTime.MinValue.Ticks || utcTicks > DateTime.MaxValue.Ticks)
            {
                throw new FilterException($"{Show(text)} is out of range for column {Show(column.Name)}.");
            }

            return new DateTime(utcTicks, DateTimeKind.Utc);
        }

        private string AddParameter(object value, FilterValueKind kind)
        {
            Parameters.Add(new FilterParameter(value, kind));
            return _parameterSql(_firstParameterIndex + Parameters.Count - 1, kind);
        }

        private static FilterException UnknownColumn(string name) => new($"Unknown column {Show(name)} in $filter.");

        private static string KindName(FilterValueKind kind) => kind switch
        {
            FilterValueKind.Text => "text",
            FilterValueKind.Number => "number",
            FilterValueKind.Integer => "integer",
            FilterValueKind.Date => "date",
            FilterValueKind.Timestamp => "timestamp",
            FilterValueKind.Boolean => "boolean",
            _ => kind.ToString(),
        };

        private static string Flip(string op) => op switch
        {
            "gt" => "lt",
            "ge" => "le",
            "lt" => "gt",
            "le" => "ge",
            _ => op, // eq and ne are symmetric
        };

        private static bool IsKeyword(Token token, string keyword) =>
            token.Kind == TokenKind.Identifier && string.Equals(token.Text, keyword, StringComparison.OrdinalIgnoreCase);

        private static bool IsAnyKeyword(Token token) =>
            token.Kind == TokenKind.Identifier && Keywords.Any(k => string.Equals(token.Text, k, StringComparison.OrdinalIgnoreCase));

        private static bool IsComparisonOperator(Token token) =>
            token.Kind == TokenKind.Identifier && ComparisonOperators.Any(k => string.Equals(token.Text, k, StringComparison.OrdinalIgnoreCase));

        /// <summary>A token that can be one side of a comparison: a non-operator word, a string, number, date, null/true/false.</summary>
        private static bool IsOperand(Token token) => token.Kind switch
        {
            TokenKind.String or TokenKind.Number or TokenKind.Date or TokenKind.DateTime => true,
            TokenKind.Identifier => !IsAnyKeyword(token) || IsKeyword(token, "null") || IsKeyword(token, "true") || IsKeyword(token, "false"),
            _ => false,
        };

        private static bool EndsCondition(Token token) =>
            token.Kind is TokenKind.End or TokenKind.RightParen || IsKeyword(token, "and") || IsKeyword(token, "or");

        private static string Describe(Token token) => token.Kind switch
        {
            TokenKind.End => "the end of the filter",
            TokenKind.String => token.Raw.Length <= 42 ? token.Raw : Show(token.Text),
            TokenKind.Symbol when char.IsControl(token.Raw[0]) || char.IsWhiteSpace(token.Raw[0]) => $"character U+{(int)token.Raw[0]:X4}",
            _ => Show(token.Raw),
        };

        private static string Found(Token token)
        {
            if (token.Kind == TokenKind.End)
            {
                return "but the filter ended";
            }

            // A double quote is the most common mistake from SQL habits; say what to use instead.
            var hint = token.Raw == "\"" ? " (use single quotes for text and column names)" : string.Empty;
            return $"but found {Describe(token)}{hint}";
        }

        private Token Peek() => _tokens[_next];

        private Token PeekAt(int offset) => _tokens[Math.Min(_next + offset, _tokens.Count - 1)];

        // Never moves past End, so error paths can always look at "the next token".
        private Token Advance()
        {
            var token = _tokens[_next];
            if (_next < _tokens.Count - 1)
            {
                _next++;
            }

            return token;
        }
    }
}
