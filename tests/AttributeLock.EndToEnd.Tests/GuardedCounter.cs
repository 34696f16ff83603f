namespace AttributeLock.EndToEnd.Tests;

/// <summary>A read-modify-write guarded by the lock, from inside a generated wrapper.</summary>
public partial class GuardedCounter(IEtcdLockProvider locks, dotnet_etcd.EtcdClient client)
{
    [EtcdLock("/counters/<name>", Ttl = 5)]
    public partial Task<long> IncrementAsync(string name, Func<Task>? beforeWrite, CancellationToken ct);

    private async Task<long> IncrementAsyncCore(string name, Func<Task>? beforeWrite, CancellationToken ct)
    {
        string dataKey = "/counter-data/" + name;
        var range = await client.GetAsync(dataKey, cancellationToken: ct);
        long value = range.Kvs.Count == 0 ? 0 : long.Parse(range.Kvs[0].Value.ToStringUtf8());
        if (beforeWrite is not null)
        {
            await beforeWrite();
        }

        await EtcdLockContext.Current!.PutIfHeldAsync(dataKey, (value + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), CancellationToken.None);
        return value + 1;
    }
}
