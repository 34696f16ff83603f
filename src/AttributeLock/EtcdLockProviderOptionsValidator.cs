using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace AttributeLock;

/// <summary>
/// Checks <see cref="EtcdLockProviderOptions"/> when the host starts (<c>ValidateOnStart</c>, registered by
/// <c>AddEtcdLocks</c>), so that a missing endpoint, a malformed one or an impossible TTL stops the app at start with a
/// message naming the setting (its configuration path, such as <c>EtcdLocks:Endpoints:0</c>, when it was bound from
/// configuration) and the value found, instead of failing the first locked request. No reflection: AOT- and trim-safe.
/// </summary>
internal sealed class EtcdLockProviderOptionsValidator : IValidateOptions<EtcdLockProviderOptions>
{
    private readonly EtcdLockConfigurationSource? _source;

    public EtcdLockProviderOptionsValidator(EtcdLockConfigurationSource? source) => _source = source;

    public ValidateOptionsResult Validate(string? name, EtcdLockProviderOptions options)
    {
        // AddEtcdLocks configures the default (unnamed) options only.
        if (name is not null && name != Options.DefaultName)
        {
            return ValidateOptionsResult.Skip;
        }

        List<Failure> failures = Check(options, _source);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures.Select(f => f.Message));
    }

    /// <summary>What kind of mistake a failure is, for the exception type the provider's constructor throws.</summary>
    internal enum FailureKind
    {
        Missing,
        OutOfRange,
        Invalid,
    }

    internal readonly record struct Failure(FailureKind Kind, string Message);

    /// <summary>Every mistake found in <paramref name="options"/>, each naming the setting and the value.</summary>
    internal static List<Failure> Check(EtcdLockProviderOptions options, EtcdLockConfigurationSource? source)
    {
        var failures = new List<Failure>();
        var naming = new Naming(source);
        CheckEndpoints(options, naming, failures);

        if (options.DefaultTtlSeconds < 1)
        {
            failures.Add(new(FailureKind.OutOfRange, $"{naming.Of(nameof(options.DefaultTtlSeconds))} = {options.DefaultTtlSeconds.ToString(CultureInfo.InvariantCulture)}: the lease TTL must be at least 1 second (default 15)."));
        }

        if (options.ConnectTimeout <= TimeSpan.Zero || options.ConnectTimeout > MaxConnectTimeout)
        {
            failures.Add(new(FailureKind.OutOfRange, $"{naming.Of(nameof(options.ConnectTimeout))} = {options.ConnectTimeout.ToString("c", CultureInfo.InvariantCulture)}: must be positive and at most {MaxConnectTimeout.TotalDays:0} days (default 00:00:05)."));
        }

        if (options.MaxKeyBytes < 1)
        {
            failures.Add(new(FailureKind.OutOfRange, $"{naming.Of(nameof(options.MaxKeyBytes))} = {options.MaxKeyBytes.ToString(CultureInfo.InvariantCulture)}: must be at least 1 (default 4096)."));
        }

        CheckFile(options.TlsCaCertificatePath, nameof(options.TlsCaCertificatePath), naming, failures);
        CheckFile(options.TlsClientCertificatePath, nameof(options.TlsClientCertificatePath), naming, failures);
        CheckFile(options.TlsClientKeyPath, nameof(options.TlsClientKeyPath), naming, failures);
        if (options.TlsClientKeyPath is not null && options.TlsClientCertificatePath is null)
        {
            failures.Add(new(FailureKind.Invalid, $"{naming.Of(nameof(options.TlsClientKeyPath))} is set but {naming.Of(nameof(options.TlsClientCertificatePath))} is not: a client key needs its certificate."));
        }

        if (options.Password is not null && options.Username is null)
        {
            failures.Add(new(FailureKind.Invalid, $"{naming.Of(nameof(options.Password))} is set but {naming.Of(nameof(options.Username))} is not: the password would be ignored."));
        }

        return failures;
    }

    // Timers and gRPC deadlines cannot hold more (a Task.Delay or WaitAsync is limited to about 49.7 days).
    private static readonly TimeSpan MaxConnectTimeout = TimeSpan.FromDays(30);

    private static void CheckEndpoints(EtcdLockProviderOptions options, Naming naming, List<Failure> failures)
    {
        string defaultScheme = options.TlsCaCertificatePath is not null ? "https://" : "http://";
        bool any = false;
        for (int i = 0; i < options.Endpoints.Count; i++)
        {
            string entry = options.Endpoints[i] ?? "";
            foreach (string part in entry.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                any = true;
                string? problem = EndpointProblem(part, defaultScheme);
                if (problem is not null)
                {
                    failures.Add(new(FailureKind.Invalid, $"{naming.OfEndpoint(i)} = '{part}' is not a usable etcd endpoint: {problem} Expected a URL such as http://127.0.0.1:2379 (or host:port)."));
                }
            }
        }

        if (!any)
        {
            failures.Add(new(FailureKind.Missing, $"No etcd endpoint is configured: set {naming.OfEndpoint(0)} (for example http://127.0.0.1:2379){naming.EnvironmentHint()}."));
        }
    }

    /// <summary>What is wrong with one endpoint, or null. The same normalisation as the provider's: no scheme means http (https with a CA).</summary>
    internal static string? EndpointProblem(string endpoint, string defaultScheme)
    {
        string url = endpoint.Contains("://", StringComparison.Ordinal) ? endpoint : defaultScheme + endpoint;
        Uri uri;
        try
        {
            uri = new Uri(url, UriKind.Absolute);
        }
        catch (UriFormatException ex)
        {
            return ex.Message;
        }

        if (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
        {
            return $"the scheme '{uri.Scheme}' is not supported (http or https).";
        }

        if (string.IsNullOrEmpty(uri.Host))
        {
            return "it names no host.";
        }

        if (uri.AbsolutePath != "/" || uri.Query.Length > 0)
        {
            return $"it has a path or query ('{uri.PathAndQuery}'); an endpoint is scheme, host and port only.";
        }

        return null;
    }

    private static void CheckFile(string? path, string member, Naming naming, List<Failure> failures)
    {
        if (path is not null && !File.Exists(path))
        {
            failures.Add(new(FailureKind.Invalid, $"{naming.Of(member)} = '{path}': no such file (working directory {Environment.CurrentDirectory})."));
        }
    }

    /// <summary>Names a setting by its configuration path when the options were bound from configuration, else by its C# name.</summary>
    private readonly struct Naming(EtcdLockConfigurationSource? source)
    {
        public string Of(string member) => source is null ? $"{nameof(EtcdLockProviderOptions)}.{member}" : Join(source.Path, member);

        public string OfEndpoint(int index)
        {
            if (source is null)
            {
                return $"{nameof(EtcdLockProviderOptions)}.{nameof(EtcdLockProviderOptions.Endpoints)}[{index.ToString(CultureInfo.InvariantCulture)}]";
            }

            // A flat value (one environment variable, comma-separated) is the list's only source: name its key.
            string endpoints = Join(source.Path, nameof(EtcdLockProviderOptions.Endpoints));
            return source.HasFlatEndpoints ? endpoints : $"{endpoints}:{index.ToString(CultureInfo.InvariantCulture)}";
        }

        public string EnvironmentHint() => source is null
            ? ""
            : $", or the environment variable {Join(source.Path, nameof(EtcdLockProviderOptions.Endpoints)).Replace(":", "__", StringComparison.Ordinal)}";

        private static string Join(string path, string member) => path.Length == 0 ? member : $"{path}:{member}";
    }
}
