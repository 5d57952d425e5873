using System.Net;
using System.Net.Http.Headers;
using DatasetPlatform.Tests.Infrastructure;

namespace DatasetPlatform.Tests;

/// <summary>Health, OpenAPI, metrics and the Orleans dashboard: the last two only for admin keys.</summary>
[Collection(nameof(PlatformCollection))]
public sealed class OperationsTests(PlatformFixture platform)
{
    [Fact]
    public async Task Health_and_openapi_answer_without_a_key()
    {
        var anonymous = platform.RawClient();
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/health/ready")).StatusCode);
        var openapi = await anonymous.GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, openapi.StatusCode);
        Assert.Contains("/datasets/{id}/data", await openapi.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Metrics_and_dashboard_are_for_admin_keys_only()
    {
        var api = platform.Client();
        var datasetId = await api.NewDatasetAsync();
        await api.UploadAndWaitAsync(datasetId, "Date,Country,Value\n2020-01-01,USA,1\n", ApiClient.DateCountryManifest);

        var metrics = await api.Http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        var text = await metrics.Content.ReadAsStringAsync();
        Assert.Contains("dp_imports_finished", text);
        Assert.Contains("status=\"complete\"", text);

        Assert.Equal(HttpStatusCode.OK, (await api.Http.GetAsync("/dashboard/")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await api.Http.GetAsync("/dashboard/index.min.js")).StatusCode);

        var created = await ApiClient.ExpectJsonAsync(await api.Http.PostAsync("/keys", ApiClient.Form(("name", "not admin"))), HttpStatusCode.Created);
        var user = platform.Client(created.GetProperty("key").GetString()!);
        Assert.Equal(HttpStatusCode.Forbidden, (await user.Http.GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await user.Http.GetAsync("/dashboard/")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await platform.RawClient().GetAsync("/metrics")).StatusCode);
    }
}
