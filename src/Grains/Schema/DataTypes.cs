namespace DatasetPlatform.Grains.Schema;

/// <summary>
/// The one type vocabulary of API.md. Stored as pandas-style dtype names; Alphacast's names are aliases.
/// </summary>
public static class DataTypes
{
    public const string Datetime = "datetime64";
    public const string Text = "object";
    public const string Float = "float64";
    public const string Int16 = "int16";
    public const string Int64 = "int64";
    public const string Bool = "bool";
    public const string Category = "category";

    /// <summary>Maps any accepted spelling (Alphacast or seed 004) to the stored dtype; null when unknown.</summary>
    public static string? Normalize(string? name) => name?.Trim().ToLowerInvariant().Replace("_", " ") switch
    {
        "date" or "datetime" or "datetime64" or "timestamp" => Datetime,
        "string" or "object" or "text" or "str" => Text,
        "decimal" or "float64" or "float" or "number" or "double" => Float,
        "short integer" or "shortinteger" or "int16" or "short" => Int16,
        "integer" or "int64" or "int" or "long" => Int64,
        "bool" or "boolean" => Bool,
        "category" or "categorical" => Category,
        _ => null,
    };

    /// <summary>The Alphacast word for a dtype, as the manifest and /columns show it.</summary>
    public static string ToAlphacast(string dtype) => dtype switch
    {
        Datetime => "Date",
        Text or Category => "String",
        Int16 => "Short Integer",
        Int64 => "Integer",
        Bool => "Boolean",
        _ => "Decimal",
    };

    /// <summary>The PostgreSQL column type a dtype is stored as. Dates without a time part are stored as date.</summary>
    public static string SqlType(string dtype, bool hasTime) => dtype switch
    {
        Datetime => hasTime ? "timestamp" : "date",
        Text or Category => "text",
        Int16 => "smallint",
        Int64 => "bigint",
        Bool => "boolean",
        _ => "double precision",
    };
}
