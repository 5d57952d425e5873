using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Text.Json.Serialization;
using DatasetPlatform.Api.Apis;
using DatasetPlatform.Grains.Schema;

namespace DatasetPlatform.Api.Reference;

// The request bodies of the surfaces, for the reference only: the handlers read these fields themselves (RequestFields,
// MultipartUpload, BlockBody), JSON or form alike, so these records are never bound. Names are the wire names.

public sealed record CreateKeyRequest(
    [property: Required, Description("A name for the key.")] string Name,
    [property: Description("Whether the key is a global admin (manages keys, sees every repository). Default false.")] bool? IsAdmin = null);

public sealed record CreateRepositoryRequest(
    [property: Required] string Name,
    string? Description = null,
    [property: Description("Public or Private (default). Public repositories are readable by any valid key.")] string? Privacy = null,
    [property: Description("Default: the name in lower case, spaces as dashes.")] string? Slug = null,
    string? Team = null);

public sealed record GrantRequest(
    [property: Required, Description("The id of the key to grant the role to.")] string KeyId,
    [property: Required, Description("Read, Write or Admin.")] string Role);

public sealed record CreateDatasetRequest(
    [property: Required, Description("Unique inside its repository.")] string Name,
    [property: Required] long RepositoryId,
    string? Description = null,
    string? SourceName = null,
    string? SourceUrl = null,
    [property: Description("table (default) or blocks (a Data8 input dataset, which needs columns).")] string? Mode = null,
    [property: Description("For mode blocks: {\"column\": \"type\"} with types string, integer, decimal, boolean or date.")] Dictionary<string, string>? Columns = null);

public sealed record ManifestRequest(
    [property: Description("The columns; the body may also be this array alone. Exactly one Date column; entity columns and the date form the row key.")]
    IReadOnlyList<ManifestEntry>? Manifest = null,
    [property: Description("Locks (true) or unlocks (false) the manifest; also accepted as ?locked=.")] bool? Locked = null);

public sealed record InitializeColumnsRequest(
    [property: Required] string DateColumnName,
    [property: Description("strftime-style, e.g. %Y-%m-%d.")] string? DateFormat = null,
    [property: Description("A JSON array, repeated form fields, or one comma-separated value.")] IReadOnlyList<string>? EntitiesColumnNames = null);

public sealed record AlphacastUploadForm(
    [property: Required, Description("The CSV or gzip-compressed CSV file (also accepted in the field `file`).")] IFormFile Data,
    [property: Description("The manifest as a JSON array (see PUT /datasets/{id}/manifest); needed on the first upload unless one is set.")] string? Manifest = null);

public sealed record V4SchemaRequest(
    [property: Required, Description("Each field's type (string, number, integer, boolean, date or category) and label. A manifest array is accepted too.")]
    Dictionary<string, SchemaField> Fields,
    [property: Description("Reject records with fields not in the schema.")] bool? Strict = null);

public sealed record TokenRequest(
    [property: JsonPropertyName("grant_type"), Required, Description("client_credentials")] string GrantType,
    [property: JsonPropertyName("client_id"), Description("The key's id (also accepted as HTTP Basic user name).")] string? ClientId = null,
    [property: JsonPropertyName("client_secret"), Description("The API key itself (also accepted as HTTP Basic password).")] string? ClientSecret = null);

public sealed record CreateBlockDatasetRequest(
    [property: Required] string Name,
    [property: Required, Description("{\"column\": \"type\"}, types string, integer, decimal, boolean or date; in this order for array records.")]
    Dictionary<string, string> Columns,
    [property: Description("true (default): an input dataset that takes blocks.")] bool? Input = null,
    [property: Description("Default: the key's own repository.")] long? RepositoryId = null);

public sealed record CompleteBlockDatasetRequest([property: Required, Description("true completes the dataset; it accepts no more blocks.")] bool Completed);

public sealed record BlockRequest(
    [property: Required, Description("0 or more; sending a number again replaces that block's records.")] int BlockNumber,
    [property: Required, Description("1 to 1000 records, each an object keyed by column name or an array in column order.")] IReadOnlyList<JsonElement> Records);

public sealed record VersionedUploadForm(
    [property: JsonPropertyName("project_id"), Required, Description("The repository (project) id or uid; must come before the file.")] string ProjectId,
    [property: JsonPropertyName("name"), Required, Description("The dataset's name, unique in the project; must come before the file.")] string Name,
    [property: JsonPropertyName("description"), Description("What the dataset holds.")] string? Description = null,
    // Last and required all the same (the default only lets it follow the optional description, in the order the form sends them).
    [property: JsonPropertyName("file"), Required, Description(".csv (optionally gzip-compressed), .tsv, .txt or .parquet.")] IFormFile File = null!);

public sealed record VersionUploadForm(
    [property: JsonPropertyName("description"), Required, Description("What changed in this version.")] string Description,
    [property: JsonPropertyName("file"), Required, Description(".csv (optionally gzip-compressed), .tsv, .txt or .parquet.")] IFormFile File);

public sealed record ExperimentRequest(
    [property: JsonPropertyName("name"), Required] string Name,
    [property: JsonPropertyName("dataset_version_id"), Description("The version the experiment used (or give dataset_id for its current version).")] Guid? DatasetVersionId = null,
    [property: JsonPropertyName("dataset_id")] string? DatasetId = null,
    [property: JsonPropertyName("target_column")] string? TargetColumn = null,
    [property: JsonPropertyName("problem_type")] string? ProblemType = null,
    [property: JsonPropertyName("status"), Description("Default: created.")] string? Status = null);

public sealed record ModelRequest(
    [property: JsonPropertyName("name"), Required] string Name,
    [property: JsonPropertyName("experiment_id"), Required] Guid ExperimentId,
    [property: JsonPropertyName("algorithm")] string? Algorithm = null);

public sealed record DeploymentRequest(
    [property: JsonPropertyName("name"), Required] string Name,
    [property: JsonPropertyName("model_id"), Required] Guid ModelId,
    [property: JsonPropertyName("stage"), Description("Default: staging.")] string? Stage = null,
    [property: JsonPropertyName("is_active"), Description("Default: true.")] bool? IsActive = null);

/// <summary>The bodies as endpoints declare them (<see cref="EndpointDocs.WithBody"/>), with examples that work as they stand.</summary>
public static class RequestBodies
{
    private const string Json = "application/json";
    private const string Form = "application/x-www-form-urlencoded";
    private const string Multipart = "multipart/form-data";

    /// <summary>The manifest of the README's walk-through: one Date column and one entity column.</summary>
    public const string ExampleManifest =
        """[{"sourceName":"Date","dataType":"Date","isEntity":true,"dateFormat":"%Y-%m-%d"},{"sourceName":"Country","dataType":"String","isEntity":true}]""";

    private static RequestBodyDoc Fields<T>(string description, string example) =>
        new(description, [new(Json, typeof(T), example), new(Form, typeof(T), example)], BodyKind.Fields);

    public static readonly RequestBodyDoc CreateKey = Fields<CreateKeyRequest>("The new key's name and whether it is an admin key.",
        """{"name":"loader","isAdmin":false}""");

    public static readonly RequestBodyDoc CreateRepository = Fields<CreateRepositoryRequest>("JSON or form fields, as the Alphacast SDK posts them.",
        """{"name":"Macro","description":"Macroeconomic series","privacy":"Private"}""");

    public static readonly RequestBodyDoc Grant = Fields<GrantRequest>("The key and its role on this repository.", """{"keyId":"3f2a9c1b","role":"Write"}""");

    public static readonly RequestBodyDoc CreateDataset = Fields<CreateDatasetRequest>("JSON or form fields, as the Alphacast SDK posts them.",
        """{"name":"GDP","repositoryId":1,"description":"GDP by country"}""");

    public static readonly RequestBodyDoc Manifest = new("The manifest as a JSON array, as {manifest, locked}, or as form fields `manifest` (JSON text) and `locked`.",
    [
        new(Json, typeof(ManifestRequest), $$"""{"manifest":{{ExampleManifest}},"locked":false}"""),
        new(Form, typeof(ManifestRequest), $$"""{"manifest":{{JsonSerializer.Serialize(ExampleManifest)}}}"""),
    ], BodyKind.Fields);

    public static readonly RequestBodyDoc InitializeColumns = Fields<InitializeColumnsRequest>(
        "Writes a manifest from the date column, its format and the entity columns (the SDK's initialize_columns).",
        """{"dateColumnName":"Date","dateFormat":"%Y-%m-%d","entitiesColumnNames":["Country"]}""");

    public static readonly RequestBodyDoc AlphacastUpload = new(
        "multipart/form-data with the file in `data` and, unless the dataset has one, the manifest in `manifest`. The file streams into "
        + "staging as it arrives; the 201 comes once it is stored, and the import runs after every upload sent before it.",
        [new(Multipart, typeof(AlphacastUploadForm), $$"""{"manifest":{{JsonSerializer.Serialize(ExampleManifest)}}}""")], BodyKind.Upload);

    public static readonly RequestBodyDoc V4Schema = new("The V4 schema {strict, fields}, or a manifest array.",
        [new(Json, typeof(V4SchemaRequest), """{"strict":true,"fields":{"prompt":{"type":"string","label":"Prompt"},"score":{"type":"integer"}}}""")], BodyKind.Fields);

    public static readonly RequestBodyDoc PresignedFile = new(
        "The file itself, as the body (no multipart). JSON lines or CSV, optionally gzip-compressed; the format comes from the file name "
        + "given when the URL was made.",
    [
        new("application/x-ndjson", null, "{\"prompt\":\"Say hello\",\"score\":3}\n{\"prompt\":\"Say goodbye\",\"score\":5}\n"),
        new("text/csv", null, "prompt,score\nSay hello,3\n"),
        new("application/octet-stream", null),
    ], BodyKind.Upload);

    public static readonly RequestBodyDoc Token = Fields<TokenRequest>("OAuth2 client credentials (RFC 6749 4.4), as a form; the client may also send its id and secret as HTTP Basic.",
        """{"grant_type":"client_credentials","client_id":"3f2a9c1b","client_secret":"dp_3f2a9c1b_..."}""");

    public static readonly RequestBodyDoc CreateBlockDataset = Fields<CreateBlockDatasetRequest>("The dataset's name and its typed columns.",
        """{"name":"people","columns":{"Name":"string","Age":"integer"},"input":true}""");

    public static readonly RequestBodyDoc CompleteBlockDataset = Fields<CompleteBlockDatasetRequest>("Completes the input dataset.", """{"completed":true}""");

    public static readonly RequestBodyDoc Block = new("One block of records. The body is bounded by MAX_BLOCK_BODY_BYTES before it is read.",
        [new(Json, typeof(BlockRequest), """{"blockNumber":0,"records":[{"Name":"Ann","Age":31},["Bob",42]]}""")], BodyKind.Block);

    public static readonly RequestBodyDoc VersionedUpload = new(
        "multipart/form-data: `project_id` and `name` (before the file: they are checked before any byte of it is stored), an optional "
        + "`description`, then `file`. The call answers once the import has finished, with the new dataset's first version.",
        [new(Multipart, typeof(VersionedUploadForm), """{"project_id":"1","name":"transactions","description":"January"}""")], BodyKind.Upload);

    public static readonly RequestBodyDoc VersionUpload = new(
        "multipart/form-data: `description` and `file`. The call answers once the import has finished, with the version it made.",
        [new(Multipart, typeof(VersionUploadForm), """{"description":"February"}""")], BodyKind.Upload);

    public static readonly RequestBodyDoc Experiment = Fields<ExperimentRequest>("The experiment and the dataset version it used.",
        """{"name":"churn baseline","dataset_version_id":"6b0d1d8e-8a52-4c3f-9a53-2f1d0c9e7a10","target_column":"churned","problem_type":"classification"}""");

    public static readonly RequestBodyDoc Model = Fields<ModelRequest>("The model and the experiment it came from.",
        """{"name":"gbm-1","experiment_id":"0f6f1c1e-2f0a-4d7b-9a59-5a3c2b1d0e9f","algorithm":"gradient boosting"}""");

    public static readonly RequestBodyDoc Deployment = Fields<DeploymentRequest>("The deployment and the model it serves.",
        """{"name":"churn-api","model_id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","stage":"production","is_active":true}""");
}
