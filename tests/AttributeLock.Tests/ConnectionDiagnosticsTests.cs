using Microsoft.Extensions.Logging;
using Xunit;

namespace AttributeLock.Tests;

/// <summary>
/// The channel's per-call log categories must stay disabled: while any level of them is enabled, gRPC starts an
/// Activity for every call and the HTTP layer takes its diagnostics path (3.5 KB more per lock call, measured).
/// The connection layer's categories stay enabled: a host DNS does not know is only seen there.
/// </summary>
public sealed class ConnectionDiagnosticsTests
{
    [Theory]
    [InlineData("Grpc.Net.Client.Internal.GrpcCall")]
    [InlineData("Grpc.Net.Client.Internal.Retry.RetryCall")]
    [InlineData("Grpc.Net.Client.GrpcChannel")]
    public void Per_call_categories_are_disabled_at_every_level(string category)
    {
        using var diagnostics = new ConnectionDiagnostics();
        ILogger logger = diagnostics.CreateLogger(category);
        Assert.All(Enum.GetValues<LogLevel>().Where(l => l != LogLevel.None), level => Assert.False(logger.IsEnabled(level), $"{category} {level}"));
    }

    [Theory]
    [InlineData("Grpc.Net.Client.Balancer.Internal.SocketConnectivitySubchannelTransport")]
    [InlineData("Grpc.Net.Client.Balancer.Subchannel")]
    public void Connection_categories_record_a_host_dns_does_not_know(string category)
    {
        using var diagnostics = new ConnectionDiagnostics();
        ILogger logger = diagnostics.CreateLogger(category);
        Assert.True(logger.IsEnabled(LogLevel.Debug));
        logger.LogDebug(new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.HostNotFound), "connect failed");
        Assert.NotNull(diagnostics.RecentProblem(TimeSpan.FromSeconds(10)));
    }
}
