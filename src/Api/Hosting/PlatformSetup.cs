using DatasetPlatform.Api.Apis;
using DatasetPlatform.Api.Auth;
using DatasetPlatform.Api.WebConsole;
using DatasetPlatform.Grains.Hosting;
using DatasetPlatform.Grains.Import;
using DatasetPlatform.Grains.Storage;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.Features;
using OpenTelemetry.Metrics;
using Orleans.Configuration;
using Orleans.Dashboard;

namespace DatasetPlatform.Api.Hosting;

public static class PlatformSetup
{
    public const string AdminPolicy = "admin";

    /// <summary>
    /// Everything the gateway needs: the data source (schema applied before Orleans starts, since membership lives
    /// in it), a co-hosted silo or a cluster client, authentication and ProblemDetails.
    /// </summary>
    public static async Task AddPlatformAsync(this WebApplicationBuilder builder)
    {
        builder.Configuration.AddPlatformEnvironment();

        var options = builder.Configuration.GetSection(PlatformOptions.Section).Get<PlatformOptions>() ?? new PlatformOptions();
        if (string.IsNullOrWhiteSpace(options.Postgres))
            throw new InvalidOperationException("No database configured: set DP_POSTGRES to an Npgsql connection string (./run.sh does this for you).");
        builder.Services.AddOptions<PlatformOptions>().BindConfiguration(PlatformOptions.Section).ValidateDataAnnotations()
            .Validate(o => o.DefaultPageSize <= o.MaxPageSize, "DP_PAGE_SIZE must not exceed DP_MAX_PAGE_SIZE.").ValidateOnStart();
        builder.Services.AddOptions<ReadOptions>().BindConfiguration(ReadOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        var endpoints = builder.Configuration.GetSection("Silo").Get<SiloEndpointOptions>() ?? new SiloEndpointOptions();

        var pools = DatabasePoolOptions.From(builder.Configuration);
        pools.Validate(options.Mode == "gateway" ? 0 : ImportGate.SlotsFrom(builder.Configuration), options.MaxConcurrentDownloads);
        var dataSource = PlatformHosting.CreateDataSource(options.Postgres, pools.MaxPoolSize, leavesNoSessionState: true);
        var orleansDataSource = PlatformHosting.CreateDataSource(options.Postgres, pools.OrleansPoolSize, "datasetplatform-orleans");
        await SchemaBootstrapper.ApplyAsync(dataSource);
        builder.Services.AddPlatformStorage(dataSource, pools, builder.Configuration[PlatformHosting.StagingDirectoryKey]);

        // A gateway's calls each carry a short timeout of their own (GrainCalls); the client's bounds whatever outlives them.
        if (options.Mode == "gateway")
            builder.UseOrleansClient(client => client.UsePlatformClient(orleansDataSource, endpoints)
                .Configure<ClientMessagingOptions>(o => o.ResponseTimeout = GrainCalls.ClientResponseTimeout));
        else builder.UseOrleans(silo => silo.UsePlatformSilo(orleansDataSource, endpoints, embedded: true));
        builder.AddUploadLimits(options);

        // Kestrel's default body limit (30 MB) stays for every endpoint; the streaming upload endpoints raise it for themselves
        // (UploadLimit.Apply). Forms read whole (small create/update calls) are capped at 1 MiB.
        builder.Services.Configure<FormOptions>(o => o.MultipartBodyLengthLimit = 1 << 20);
        builder.Services.AddMemoryCache();
        // CORS for the presigned PUT only: its URL is its own credential, so any web page holding one may send the file.
        builder.Services.AddCors(o => o.AddPolicy(PresignedUploadsApi.CorsPolicy, p => p.AllowAnyOrigin().WithMethods("PUT").WithHeaders("Content-Type")
            .WithExposedHeaders("ETag")));
        builder.Services.AddSingleton<DatasetAccess>();
        builder.Services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        builder.Services.AddAuthorizationBuilder()
            .SetFallbackPolicy(new AuthorizationPolicyBuilder(ApiKeyAuthenticationHandler.SchemeName).RequireAuthenticatedUser().Build())
            .AddPolicy(AdminPolicy, p => p.AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName).RequireClaim(Caller.AdminClaim, "true"));
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(Grains.Import.ImportRunner.MeterName, "Microsoft.Orleans", "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Npgsql",
                "System.Runtime")
            .AddPrometheusExporter());
        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = context =>
        {
            // Alphacast's SDK reads `message`; give every problem one.
            context.ProblemDetails.Extensions.TryAdd("message", context.ProblemDetails.Detail ?? context.ProblemDetails.Title);
        });
        builder.Services.AddExceptionHandler<BadRequestExceptionHandler>();
        builder.Services.AddExceptionHandler<ReadFailureExceptionHandler>();
        builder.Services.AddExceptionHandler<ClusterUnavailableExceptionHandler>();
        builder.Services.AddApiReference();
        builder.Services.AddHostedService<BootstrapKeyService>();
        builder.Services.AddHostedService<DatabaseRoleCheck>();
        // One connection of its own (not from the main pool), held open to LISTEN for key revocations made at other gateways.
        var revocationSource = PlatformHosting.CreateDataSource(options.Postgres, 1, "datasetplatform-revocations");
        builder.Services.AddHostedService(services => new RevokedKeyListener(revocationSource, services.GetRequiredService<KeyStore>(),
            services.GetRequiredService<Microsoft.Extensions.Caching.Memory.IMemoryCache>(), services.GetRequiredService<ILogger<RevokedKeyListener>>()));
    }

    public static WebApplication UsePlatform(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseCors();
        app.UseMiddleware<CrossSiteRequestGuard>();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();
        app.MapApiReference();
        // Operations: Prometheus metrics (the runtime's too: GC, thread pool, allocations) and the Orleans dashboard, for admin keys only (the dashboard has no auth of its own).
        app.MapPrometheusScrapingEndpoint("/metrics").RequireAuthorization(AdminPolicy);
        if (PlatformHosting.DashboardEnabled(app.Configuration))
        {
            // Internal routes: left out of the API reference.
            app.MapGroup(ApiKeyAuthenticationHandler.DashboardPath).RequireAuthorization(AdminPolicy).ExcludeFromDescription().MapOrleansDashboard();
            // The dashboard's page loads its assets relative to itself, which only resolves under "/dashboard/".
            app.Use(async (context, next) =>
            {
                if (context.Request.Path.Value == "/dashboard") context.Response.Redirect(context.Request.PathBase + "/dashboard/");
                else
                {
                    // The dashboard is logged into with the browser's Basic prompt; no other site may frame it (clickjacking).
                    if (context.Request.Path.StartsWithSegments(ApiKeyAuthenticationHandler.DashboardPath))
                    {
                        context.Response.Headers.XFrameOptions = "DENY";
                        context.Response.Headers.ContentSecurityPolicy = "frame-ancestors 'none'";
                    }
                    await next();
                }
            });
        }
        app.MapHealthApi();
        app.MapKeysApi();
        app.MapRepositoriesApi();
        app.MapDatasetsApi();
        app.MapUploadsApi();
        app.MapPresignedUploadsApi();
        app.MapTokenApi();
        app.MapBlocksApi();
        app.MapVersionedDatasetsApi();
        app.MapDatasetInsightsApi();
        app.MapProcessesApi();
        app.MapDataApi();
        app.MapWebConsoleApi();
        return app;
    }
}
