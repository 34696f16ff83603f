using System.Runtime.CompilerServices;

namespace AttributeLock.Tests;

/// <summary>
/// What a provider keeps of a released hold: nothing of the hold itself, nor of what the user registered on its
/// tokens, even while the released lease's TTL has not passed (a long TTL must not turn into a memory leak under a
/// steady stream of short holds).
/// </summary>
public sealed class MemoryAfterReleaseTests : ProviderTestBase
{
    [Fact]
    public async Task A_released_hold_and_the_callbacks_registered_on_its_tokens_are_not_kept_reachable()
    {
        var provider = NewProvider();
        const int count = 200;
        WeakReference[] callbacks = await AcquireRegisterAndReleaseAsync(provider, UniqueKey("memory"), count);

        int alive = 0;
        for (int attempt = 0; attempt < 20; attempt++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            alive = callbacks.Count(w => w.IsAlive);
            if (alive == 0)
            {
                break;
            }

            await Task.Delay(100); // background work of the release (the revoke) may still hold its hold briefly
        }

        Assert.True(alive == 0, $"{alive} of {count} released holds' LostToken callbacks (and so their holds) are still reachable with the TTL of 300 s not passed");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<WeakReference[]> AcquireRegisterAndReleaseAsync(EtcdLockProvider provider, string prefix, int count)
    {
        var weak = new WeakReference[count];
        for (int i = 0; i < count; i++)
        {
            EtcdLockHandle handle = await provider.AcquireAsync($"{prefix}/{i}", new EtcdLockOptions { TtlSeconds = 300 });
            var payload = new byte[1024];
            weak[i] = new WeakReference(payload);
            handle.LostToken.Register(static p => GC.KeepAlive(p), payload);
            await handle.DisposeAsync();
        }

        return weak;
    }
}
