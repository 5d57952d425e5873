using DatasetPlatform.Api.Hosting;

var builder = WebApplication.CreateBuilder(args);
await builder.AddPlatformAsync();

var app = builder.Build();
app.UsePlatform();
await app.RunAsync();

/// <summary>Entry point; public so the tests' WebApplicationFactory can host it.</summary>
public partial class Program;
