using System.Text.Json;

namespace DatasetPlatform.Cli.Http;

/// <summary>A JSON answer: the text as the API sent it (what --json prints) and the parsed document.</summary>
internal sealed record ApiJson(string Raw, JsonElement Root, long? TotalCount);
