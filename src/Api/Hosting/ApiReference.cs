using DatasetPlatform.Api.Reference;
using Scalar.AspNetCore;

namespace DatasetPlatform.Api.Hosting;

/// <summary>
/// The API reference: the OpenAPI document at <see cref="DocumentPath"/> (completed by the transformers in Reference/) and a
/// browsable page (Scalar) at <see cref="PagePath"/>, both anonymous. The page works offline: Scalar's script is served by
/// the gateway from the package itself, its CDN fonts, telemetry and AI features are off, and its Content-Security-Policy
/// allows this origin only (scripts by a per-request nonce).
/// </summary>
public static class ApiReference
{
    public const string DocumentPattern = "/openapi/{documentName}.json";
    public const string DocumentPath = "/openapi/v1.json";
    public const string PagePath = "/reference";

    public static IServiceCollection AddApiReference(this IServiceCollection services) => services.AddOpenApi(options =>
    {
        options.AddDocumentTransformer<ApiDocumentTransformer>();
        options.AddOperationTransformer<ApiOperationTransformer>();
        options.AddSchemaTransformer<ApiSchemaTransformer>();
    });

    public static WebApplication MapApiReference(this WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            if (context.Request.Path.StartsWithSegments(PagePath))
            {
                context.Response.OnStarting(() =>
                {
                    var nonce = context.Items[ScalarOptions.NonceHttpContextItemKey] as string;
                    var scripts = nonce is null ? "'self'" : $"'self' 'nonce-{nonce}'";
                    // Scalar styles itself with inline style elements; everything else comes from this origin (the document, the
                    // script, and the requests "Test request" sends).
                    context.Response.Headers.ContentSecurityPolicy = $"default-src 'none'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
                        + "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
                        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
                    context.Response.Headers.XFrameOptions = "DENY";
                    context.Response.Headers.XContentTypeOptions = "nosniff";
                    return Task.CompletedTask;
                });
            }
            await next();
        });
        app.MapOpenApi(DocumentPattern).AllowAnonymous();
        app.MapScalarApiReference(PagePath, options => options
                .WithTitle("DatasetPlatform API reference")
                .WithOpenApiRoutePattern(DocumentPattern)
                .AddPreferredSecuritySchemes(ApiSecuritySchemes.Bearer)
                .WithNonce()
                .DisableDefaultFonts()
                .DisableTelemetry()
                .DisableAgent()
                .DisableMcp()
                .HideDeveloperTools())
            .AllowAnonymous();
        return app;
    }
}
