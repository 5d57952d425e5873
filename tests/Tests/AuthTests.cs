using System.Net;
using System.Net.Http.Headers;
using DatasetPlatform.Tests.Infrastructure;

namespace DatasetPlatform.Tests;

/// <summary>401 without a valid key, 403 without the role, 404 for what the key cannot see.</summary>
[Collection(nameof(PlatformCollection))]
public sealed class AuthTests(PlatformFixture platform)
{
    private async Task<string> NewKeyAsync(ApiClient admin)
    {
        var response = await admin.Http.PostAsync("/keys", ApiClient.Form(("name", "user " + Guid.NewGuid().ToString("N")[..6])));
        return (await ApiClient.ExpectJsonAsync(response, HttpStatusCode.Created)).GetProperty("key").GetString()!;
    }

    [Fact]
    public async Task Missing_or_invalid_keys_get_401_problems()
    {
        var anonymous = platform.RawClient();
        Assert.Contains("API key", await ApiClient.ExpectProblemAsync(await anonymous.GetAsync("/datasets"), HttpStatusCode.Unauthorized));

        anonymous.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String("dp_0000000000000000_nope:"u8.ToArray()));
        await ApiClient.ExpectProblemAsync(await anonymous.GetAsync("/datasets"), HttpStatusCode.Unauthorized);

        var other = platform.RawClient();
        Assert.Equal(HttpStatusCode.OK, (await other.GetAsync($"/datasets?apiKey={Uri.EscapeDataString(platform.AdminKey)}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await platform.RawClient().GetAsync("/health/live")).StatusCode);
    }

    [Fact]
    public async Task Roles_decide_read_write_and_visibility()
    {
        var admin = platform.Client();
        var ownerKey = await NewKeyAsync(admin);
        var readerKey = await NewKeyAsync(admin);
        var strangerKey = await NewKeyAsync(admin);
        var owner = platform.Client(ownerKey);
        var reader = platform.Client(readerKey);
        var stranger = platform.Client(strangerKey);

        var repositoryId = await owner.CreateRepositoryAsync();
        var datasetId = await owner.CreateDatasetAsync(repositoryId);
        await owner.UploadAndWaitAsync(datasetId, "Date,Country,Value\n2020-01-01,USA,1\n", ApiClient.DateCountryManifest);

        // A private dataset does not exist for a key without a role.
        await ApiClient.ExpectProblemAsync(await stranger.Http.GetAsync($"/datasets/{datasetId}"), HttpStatusCode.NotFound);
        await ApiClient.ExpectProblemAsync(await stranger.Http.GetAsync($"/datasets/{datasetId}/data"), HttpStatusCode.NotFound);
        await ApiClient.ExpectProblemAsync(await stranger.UploadAsync(datasetId, "Date,Country,Value\n2020-01-01,USA,1\n"), HttpStatusCode.NotFound);
        Assert.DoesNotContain((await stranger.GetJsonAsync("/datasets")).EnumerateArray(), d => d.GetProperty("id").GetInt64() == datasetId);

        var readerId = readerKey.Split('_')[1];
        foreach (var bogus in new[] { "Read,Write", "3", "Owner" })
            await ApiClient.ExpectProblemAsync(await owner.Http.PostAsync($"/repositories/{repositoryId}/permissions",
                ApiClient.Form(("keyId", readerId), ("role", bogus))), HttpStatusCode.BadRequest);
        var grant = await owner.Http.PostAsync($"/repositories/{repositoryId}/permissions", ApiClient.Form(("keyId", readerId), ("role", "Read")));
        await ApiClient.ExpectJsonAsync(grant, HttpStatusCode.OK);
        Assert.Equal("Country,Date,Value\nUSA,2020-01-01,1\n", await reader.DownloadAsync(datasetId));
        Assert.Equal("Read", (await reader.GetJsonAsync($"/datasets/{datasetId}")).GetProperty("permission").GetString());
        Assert.Contains("Write is required", await ApiClient.ExpectProblemAsync(
            await reader.UploadAsync(datasetId, "Date,Country,Value\n2020-01-01,USA,1\n"), HttpStatusCode.Forbidden));
        await ApiClient.ExpectProblemAsync(await reader.Http.DeleteAsync($"/datasets/{datasetId}"), HttpStatusCode.Forbidden);
        await ApiClient.ExpectProblemAsync(await reader.Http.PostAsync("/keys", ApiClient.Form(("name", "x"))), HttpStatusCode.Forbidden);

        // Public repositories are readable by any valid key, writable only with a role.
        var publicRepository = await owner.CreateRepositoryAsync("Public");
        var publicDataset = await owner.CreateDatasetAsync(publicRepository);
        Assert.Equal("Read", (await stranger.GetJsonAsync($"/datasets/{publicDataset}")).GetProperty("permission").GetString());
        await ApiClient.ExpectProblemAsync(await stranger.UploadAsync(publicDataset, "Date,Country,Value\n2020-01-01,USA,1\n"), HttpStatusCode.Forbidden);

        // Revoked keys stop working (after the short verification cache).
        Assert.Equal(HttpStatusCode.NoContent, (await admin.Http.DeleteAsync($"/keys/{strangerKey.Split('_')[1]}")).StatusCode);
    }
}
