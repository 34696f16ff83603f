using Microsoft.Extensions.Configuration;

namespace AttributeLock;

/// <summary>The configuration the options were bound from (<c>AddEtcdLocks(IConfiguration)</c>), for naming settings in errors.</summary>
internal sealed class EtcdLockConfigurationSource(IConfiguration configuration)
{
    /// <summary>The section's path, for example <c>EtcdLocks</c>; empty for a configuration root.</summary>
    public string Path { get; } = configuration is IConfigurationSection section ? section.Path : "";

    /// <summary>Whether <c>Endpoints</c> was given as one (comma-separated) value rather than a list.</summary>
    public bool HasFlatEndpoints => !string.IsNullOrWhiteSpace(configuration[nameof(EtcdLockProviderOptions.Endpoints)]);
}
