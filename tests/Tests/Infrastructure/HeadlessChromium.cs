using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace DatasetPlatform.Tests.Infrastructure;

/// <summary>
/// Chromium from the Debian packages (`chromium`, `chromium-driver`), headless, driven through its chromedriver. ./test.sh
/// installs both when missing (scripts/chromium.sh) and says where they are in DP_CHROMIUM and DP_CHROMEDRIVER; without them
/// a browser test fails with the reason, never passes silently. Screenshots go to <see cref="ScreenshotDirectory"/>.
/// </summary>
public sealed class HeadlessChromium : IDisposable
{
    /// <summary>How long a wait for the page may take: long enough for an import on two busy cores, short enough to fail.</summary>
    public static readonly TimeSpan WaitTimeout = TimeSpan.FromSeconds(90);

    private readonly string _profile = Directory.CreateTempSubdirectory("dp-chromium-").FullName;
    private readonly Action<string> _log;

    public ChromeDriver Driver { get; }

    /// <summary>Where the tests' screenshots go: DP_TEST_SCREENSHOTS, else "screenshots" next to the test assembly.</summary>
    public static string ScreenshotDirectory { get; } = Environment.GetEnvironmentVariable("DP_TEST_SCREENSHOTS") is { Length: > 0 } dir
        ? dir : Path.Combine(AppContext.BaseDirectory, "screenshots");

    public HeadlessChromium(Action<string> log)
    {
        _log = log;
        var (browser, driver) = Locate();
        var options = new ChromeOptions { BinaryLocation = browser };
        // --no-sandbox: CI runs as root, where Chromium's sandbox cannot start; --disable-dev-shm-usage: containers' /dev/shm is tiny.
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run",
            "--disable-extensions", "--disable-background-networking", "--window-size=1280,1800", $"--user-data-dir={_profile}");
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(driver)!, Path.GetFileName(driver));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        Driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(120));
        Driver.Manage().Timeouts().PageLoad = TimeSpan.FromSeconds(60);
    }

    /// <summary>The browser and its driver; throws with what to install when they are missing.</summary>
    private static (string Browser, string Driver) Locate()
    {
        var browser = FromEnvironmentOrPath("DP_CHROMIUM", "chromium", "chromium-browser");
        var driver = FromEnvironmentOrPath("DP_CHROMEDRIVER", "chromedriver") ?? (File.Exists("/usr/lib/chromium/chromedriver") ? "/usr/lib/chromium/chromedriver" : null);
        if (browser is not null && driver is not null) return (browser, driver);
        var reason = Environment.GetEnvironmentVariable("DP_CHROMIUM_MISSING");
        throw new InvalidOperationException("The browser tests need Chromium and chromedriver"
            + (reason is { Length: > 0 } ? $": {reason}" : $" (found browser: {browser ?? "none"}, driver: {driver ?? "none"})")
            + ". ./test.sh installs the Debian packages chromium and chromium-driver when it runs as root or with passwordless sudo; "
            + "otherwise run `sudo apt-get install -y chromium chromium-driver` once, or exclude these tests with --filter \"Category!=Browser\".");
    }

    private static string? FromEnvironmentOrPath(string variable, params string[] names)
    {
        if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } path && File.Exists(path)) return path;
        var directories = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        return names.SelectMany(name => directories.Select(d => Path.Combine(d, name))).FirstOrDefault(File.Exists);
    }

    /// <summary>Waits (polling, with <see cref="WaitTimeout"/>) until <paramref name="condition"/> returns a non-null, non-false value.</summary>
    public T WaitUntil<T>(Func<IWebDriver, T> condition, string what)
    {
        var wait = new WebDriverWait(Driver, WaitTimeout) { PollingInterval = TimeSpan.FromMilliseconds(100), Message = "Waited for " + what };
        wait.IgnoreExceptionTypes(typeof(NoSuchElementException), typeof(StaleElementReferenceException));
        return wait.Until(condition);
    }

    /// <summary>Waits (polling, with <see cref="WaitTimeout"/>) until <paramref name="condition"/> holds.</summary>
    public void WaitFor(Func<IWebDriver, bool> condition, string what) => WaitUntil(condition, what);

    /// <summary>The element once it is displayed.</summary>
    public IWebElement Visible(By by, string what) => WaitUntil(d => d.FindElement(by) is { Displayed: true } e ? e : null, what)!;

    /// <summary>Saves a screenshot named <paramref name="name"/> and logs where it went.</summary>
    public string Screenshot(string name)
    {
        Directory.CreateDirectory(ScreenshotDirectory);
        var path = Path.Combine(ScreenshotDirectory, name + ".png");
        Driver.GetScreenshot().SaveAsFile(path);
        _log("screenshot: " + path);
        return path;
    }

    public void Dispose()
    {
        Driver.Quit();
        Driver.Dispose();
        try { Directory.Delete(_profile, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
