namespace DatasetPlatform.Tests.Infrastructure;

/// <summary>
/// Waits for background work the way a user does: asks again until the answer comes or a deadline passes. Tests never
/// sleep a fixed time for work they cannot see; they poll what a user could read, with a deadline generous enough for
/// two busy cores.
/// </summary>
internal static class Poll
{
    private static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>Asks <paramref name="condition"/> until it is true; past <paramref name="timeout"/>, fails with <paramref name="failure"/>'s text.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> failure, TimeSpan? interval = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Not reached within {timeout.TotalSeconds:0.#} s: {failure()}");
            await Task.Delay(interval ?? DefaultInterval);
        }
    }

    public static Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string failure, TimeSpan? interval = null) =>
        UntilAsync(condition, timeout, () => failure, interval);

    public static Task UntilAsync(Func<bool> condition, TimeSpan timeout, string failure, TimeSpan? interval = null) =>
        UntilAsync(() => Task.FromResult(condition()), timeout, () => failure, interval);
}
