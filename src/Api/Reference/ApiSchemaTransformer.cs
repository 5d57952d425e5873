using System.Text.Json;
using System.Text.Json.Nodes;
using DatasetPlatform.Api.Apis;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace DatasetPlatform.Api.Reference;

/// <summary>
/// Makes schemas say what goes over the wire: the `message` and `errors` members every problem carries, snake_case names
/// for seed 004's bodies (serialized with their own options, which the generator does not know), and examples of the
/// main answers.
/// </summary>
internal sealed class ApiSchemaTransformer : IOpenApiSchemaTransformer
{
    public Task TransformAsync(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        var type = context.JsonTypeInfo.Type;
        if (type == typeof(ProblemDetails) || type == typeof(HttpValidationProblemDetails))
        {
            schema.Properties ??= new Dictionary<string, IOpenApiSchema>();
            schema.Properties["message"] = new OpenApiSchema
            {
                Type = JsonSchemaType.String | JsonSchemaType.Null, Description = "The same text as `detail` (read by the Alphacast SDK).",
            };
            schema.Properties["errors"] = new OpenApiSchema
            {
                Type = JsonSchemaType.Object | JsonSchemaType.Null,
                Description = "For invalid fields: the messages of each field, keyed by its name (a block's by record and field).",
                AdditionalProperties = new OpenApiSchema { Type = JsonSchemaType.Array, Items = new OpenApiSchema { Type = JsonSchemaType.String } },
            };
        }
        if (IsSnakeCase(type) && schema.Properties is { Count: > 0 } properties)
        {
            schema.Properties = properties.ToDictionary(p => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Key), p => p.Value);
            if (schema.Required is { Count: > 0 } required)
                schema.Required = new HashSet<string>(required.Select(JsonNamingPolicy.SnakeCaseLower.ConvertName));
        }
        if (context.JsonPropertyInfo is null && Examples.TryGetValue(type, out var example)) schema.Examples = [JsonNode.Parse(example)!];
        return Task.CompletedTask;
    }

    /// <summary>Seed 004's bodies: the records its two APIs declare, written with <see cref="VersionedDatasetsApi.SnakeCase"/>.</summary>
    private static bool IsSnakeCase(Type type) => type.DeclaringType == typeof(VersionedDatasetsApi) || type.DeclaringType == typeof(DatasetInsightsApi);

    private static readonly Dictionary<Type, string> Examples = new()
    {
        [typeof(ProcessResponse)] = """
            {"id":1,"datasetId":1,"status":"Processed","statusDescription":"3 values added to database.","deleteMissingFromDB":false,
             "onConflictUpdateDB":false,"acceptNewColumns":false,"createdAt":"2026-11-30T10:00:00Z","processedAt":"2026-11-30T10:00:01Z",
             "stats":{"insertedValues":3,"updatedValues":0,"deletedValues":0,"changedValues":3,"totalValues":3,"minDate":"2020-01-01","maxDate":"2021-01-01"},
             "errors":[],"version":0,"progress":null}
            """,
        [typeof(RepositoryResponse)] = """
            {"id":1,"name":"Macro","description":"Macroeconomic series","privacy":"Private","slug":"macro","team":null,"permission":"Admin","createdAt":"2026-11-30T10:00:00Z"}
            """,
        [typeof(DatasetResponse)] = """
            {"id":1,"name":"GDP","repositoryId":1,"description":"GDP by country","sourceName":null,"sourceUrl":null,"permission":"Admin","mode":"table",
             "manifestLocked":false,"currentVersion":0,"total_datapoint_count":3,"createdAt":"2026-11-30T10:00:00Z","updatedAt":"2026-11-30T10:00:01Z"}
            """,
        [typeof(UploadUrlResponse)] = """
            {"dataset_id":"1","import_id":"7","upload_url":"http://localhost:5080/uploads/7a3f...","http_method":"PUT","content_type":"application/x-ndjson",
             "expires_at":"2026-11-30T11:00:00Z","file_key":"datasets/1/imports/7/tasks.jsonl"}
            """,
        [typeof(ImportResponse)] = """
            {"dataset_id":"1","import_id":"7","type":"file_upload","filename":"tasks.jsonl","status":"partial","created_at":"2026-11-30T10:00:00Z",
             "updated_at":"2026-11-30T10:00:02Z","processing_started_at":"2026-11-30T10:00:01Z","accepted_count":99,"rejected_count":1,
             "errors":[{"record_index":41,"field":"score","reason":"'high' is not an integer."}],"errors_total":1,"reason":null}
            """,
        [typeof(TokenResponse)] = """{"access_token":"dpt.eyJrIjoiM2YyYTljMWIi...","token_type":"Bearer","expires_in":3600}""",
        [typeof(BlockDatasetResponse)] = """{"id":12,"name":"people","columns":{"Name":"string","Age":"int64"},"input":true,"recordCount":2,"completed":false}""",
        [typeof(BlockStoredResponse)] = """{"datasetId":12,"blockNumber":0,"recordCount":2,"importId":31}""",
        [typeof(VersionedDatasetsApi.UploadResponse)] = """
            {"id":"0b8f5a8e-4c1d-4a51-9d3e-0e2f7c1b9a44","dataset_id":"0b8f5a8e-4c1d-4a51-9d3e-0e2f7c1b9a44",
             "dataset_version_id":"6b0d1d8e-8a52-4c3f-9a53-2f1d0c9e7a10","artifact_id":null,"quality":{"overall_score":98.5}}
            """,
        [typeof(VersionedDatasetsApi.VersionCreated)] = """{"dataset_version_id":"6b0d1d8e-8a52-4c3f-9a53-2f1d0c9e7a10","version":1,"row_count":1200,"column_count":4}""",
    };
}
