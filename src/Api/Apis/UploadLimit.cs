using Microsoft.AspNetCore.Http.Features;

namespace DatasetPlatform.Api.Apis;

/// <summary>Raises the request body limit for one streaming upload to the configured upload size (plus multipart overhead).</summary>
public static class UploadLimit
{
    public static void Apply(HttpContext context, long maxUploadBytes)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
            feature.MaxRequestBodySize = maxUploadBytes + (1 << 20);
    }
}
