using AttributeLock.EtcdFixture;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace AttributeLock.Faults.Tests;

public sealed class AuthenticationTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string Password = "pw-Zq8-never-logged";

    private static async Task EnableAuthAsync(string endpoint)
    {
        using var admin = new EtcdClient(endpoint);
        await admin.UserAddAsync(new AuthUserAddRequest { Name = "root", Password = "root-" + Password });
        await admin.UserGrantRoleAsync(new AuthUserGrantRoleRequest { User = "root", Role = "root" });
        await admin.RoleAddAsync(new AuthRoleAddRequest { Name = "locker" });
        await admin.RoleGrantPermissionAsync(new AuthRoleGrantPermissionRequest
        {
            Name = "locker",
            Perm = new Authpb.Permission
            {
                PermType = Authpb.Permission.Types.Type.Readwrite,
                Key = ByteString.CopyFromUtf8("/locks/"),
                RangeEnd = ByteString.CopyFromUtf8("/locks0"),
            },
        });
        await admin.UserAddAsync(new AuthUserAddRequest { Name = "locker", Password = Password });
        await admin.UserGrantRoleAsync(new AuthUserGrantRoleRequest { User = "locker", Role = "locker" });
        await admin.AuthEnableAsync(new AuthEnableRequest());
    }

    [Fact]
    public async Task Credentials_with_a_prefix_role_work_and_everything_else_fails_clearly_without_leaking_the_password()
    {
        await using EtcdServer server = await EtcdServer.StartAsync();
        await EnableAuthAsync(server.Endpoint);
        var logs = new ListLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));

        var good = new EtcdLockProviderOptions { Endpoints = { server.Endpoint }, KeyPrefix = "/locks", Username = "locker", Password = Password, ConnectTimeout = TimeSpan.FromSeconds(3) };
        await using (var provider = new EtcdLockProvider(good, loggerFactory.CreateLogger<EtcdLockProvider>()))
        {
            await using EtcdLockHandle handle = await provider.AcquireAsync("/orders/1", new EtcdLockOptions { TtlSeconds = 3 });
            Assert.True(handle.FencingToken > 0);
            await Task.Delay(TimeSpan.FromSeconds(2)); // keep-alive renewals over an authenticated stream
            Assert.False(handle.IsLost);
        }

        var exceptions = new List<Exception>();
        var anonymous = new EtcdLockProviderOptions { Endpoints = { server.Endpoint }, KeyPrefix = "/locks", ConnectTimeout = TimeSpan.FromSeconds(3) };
        await using (var provider = new EtcdLockProvider(anonymous, loggerFactory.CreateLogger<EtcdLockProvider>()))
        {
            exceptions.Add(await Assert.ThrowsAsync<EtcdLockUnavailableException>(async () => await provider.AcquireAsync("/orders/2")));
        }

        using var root = new EtcdClient(server.Endpoint, "root", "root-" + Password);
        int leasesBefore = (await root.LeaseLeasesAsync(new LeaseLeasesRequest())).Leases.Count;
        var outside = new EtcdLockProviderOptions { Endpoints = { server.Endpoint }, KeyPrefix = "/elsewhere", Username = "locker", Password = Password, ConnectTimeout = TimeSpan.FromSeconds(3) };
        await using (var provider = new EtcdLockProvider(outside, loggerFactory.CreateLogger<EtcdLockProvider>()))
        {
            var ex = await Assert.ThrowsAsync<EtcdLockUnavailableException>(async () => await provider.AcquireAsync("/orders/3"));
            Assert.Contains("PermissionDenied", ex.Message);
            Assert.Contains("permission denied", ex.Message);
            Assert.False(ex.IsTransient, "a permission error is permanent: retrying will not help");
            exceptions.Add(ex);
        }

        // The lease was granted before the transaction was refused: it must have been revoked, nothing half-acquired.
        Assert.Equal(leasesBefore, (await root.LeaseLeasesAsync(new LeaseLeasesRequest())).Leases.Count);

        var wrong = new EtcdLockProviderOptions { Endpoints = { server.Endpoint }, KeyPrefix = "/locks", Username = "locker", Password = "wrong-" + Password, ConnectTimeout = TimeSpan.FromSeconds(3) };
        await using (var provider = new EtcdLockProvider(wrong, loggerFactory.CreateLogger<EtcdLockProvider>()))
        {
            exceptions.Add(await Assert.ThrowsAnyAsync<Exception>(async () => await provider.AcquireAsync("/orders/4")));
        }

        foreach (Exception ex in exceptions)
        {
            output.WriteLine($"{ex.GetType().Name}: {ex.Message}");
            Assert.DoesNotContain(Password, ex.ToString());
        }

        Assert.DoesNotContain(Password, good.ToString());
        Assert.DoesNotContain(Password, string.Join("\n", logs.Lines));
    }
}
