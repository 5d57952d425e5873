namespace DatasetPlatform.Cli.Http;

/// <summary>The four client surfaces, each called the way its own users call it (API.md).</summary>
internal enum Surface
{
    /// <summary>/repositories, /datasets/...: Basic, the key as user name and an empty password.</summary>
    Alphacast,
    /// <summary>V4 presigned uploads: `Authorization: Token key`.</summary>
    Presigned,
    /// <summary>Data8 blocks: `Authorization: Bearer key` (a raw key is accepted in place of an access token).</summary>
    Blocks,
    /// <summary>Seed 004 versioned datasets: `Authorization: Bearer key`.</summary>
    Versioned,
}
