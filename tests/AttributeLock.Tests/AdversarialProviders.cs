using AttributeLock.Engine.Session;
using AttributeLock.EtcdFixture;
using Grpc.Core.Interceptors;

namespace AttributeLock.Tests;

/// <summary>Providers of the adversarial tests on an etcd of their own (ADV_LOG set: they log to the console).</summary>
internal static class AdversarialProviders
{
    public static EtcdLockProvider PrivateProvider(EtcdServer server, params Interceptor[] interceptors) => PrivateProvider(server, TimeSpan.FromSeconds(5), interceptors);

    public static EtcdLockProvider PrivateProvider(EtcdServer server, TimeSpan connectTimeout, params Interceptor[] interceptors) =>
        PrivateProvider(server, connectTimeout, null, interceptors);

    public static EtcdLockProvider PrivateProvider(EtcdServer server, TimeSpan connectTimeout, Func<EngineSettings, EngineSettings>? tune, params Interceptor[] interceptors) =>
        new(new EtcdLockProviderOptions { Endpoints = { server.Endpoint }, ConnectTimeout = connectTimeout }, Environment.GetEnvironmentVariable("ADV_LOG") is null ? null : new ConsoleLog(), null, interceptors.Length == 0 ? null : interceptors, tune);
}
