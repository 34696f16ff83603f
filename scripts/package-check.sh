#!/usr/bin/env bash
# Packs src/AttributeLock, src/AttributeLock.DistributedLock, src/AttributeLock.Testing and src/AttributeLock.HealthChecks,
# checks what they carry (the generator and the code fixes under analyzers/dotnet/cs; a README, the MIT licence
# expression, project and repository URLs in every package, on the base the diagnostics' help links use), then builds
# and runs a throw-away consumer that gets the library, its source generator and the other packages from those packages
# alone (a local folder source), against a real etcd (scripts/with-etcd.sh).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
root="$AL_ROOT"
projects=(AttributeLock AttributeLock.DistributedLock AttributeLock.Testing AttributeLock.HealthChecks)
work=$(mktemp -d)
version="0.1.0-check.$(date +%s)"
trap 'rm -rf "$work"; forget_packed "$version" "${projects[@]}"' EXIT
pack_local "$version" "$work/feed" "${projects[@]}"
pkg="$work/feed/AttributeLock.$version.nupkg"
unzip -l "$pkg" > "$work/contents.txt"
grep -q "analyzers/dotnet/cs/AttributeLock.Generators.dll" "$work/contents.txt" || { echo "error: the package lacks the generator under analyzers/dotnet/cs" >&2; exit 1; }
grep -q "analyzers/dotnet/cs/AttributeLock.CodeFixes.dll" "$work/contents.txt" || { echo "error: the package lacks the code fixes (AttributeLock.CodeFixes.dll) under analyzers/dotnet/cs" >&2; exit 1; }
echo "package: $(basename "$pkg") carries lib/net10.0/AttributeLock.dll and analyzers/dotnet/cs/AttributeLock.{Generators,CodeFixes}.dll"

# Metadata of every package: README, licence, project and repository URLs, on the diagnostics' help-link base.
help_base=$(grep -o 'HelpLinkBase = "[^"]*"' "$root/generators/AttributeLock.Generators/Diagnostics/DiagnosticDescriptors.cs" | sed 's/.*"\(.*\)"/\1/')
repo_url="https://github.com/attributelock/attributelock"
case "$help_base" in "$repo_url"/*) ;; *) echo "error: the diagnostics' help links ($help_base) are not under $repo_url" >&2; exit 1 ;; esac
[ -f "$root/LICENSE" ] || { echo "error: no LICENSE file at the repository root" >&2; exit 1; }
for p in "${projects[@]}"; do
  nupkg="$work/feed/$p.$version.nupkg"
  nuspec=$(unzip -p "$nupkg" "$p.nuspec")
  files=$(unzip -Z1 "$nupkg")
  grep -qx 'README.md' <<<"$files" || { echo "error: $p has no README.md" >&2; exit 1; }
  for want in '<readme>README.md</readme>' '<license type="expression">MIT</license>' "<projectUrl>$repo_url</projectUrl>" "<repository type=\"git\" url=\"$repo_url\""; do
    grep -qF "$want" <<<"$nuspec" || { echo "error: $p.nuspec lacks $want" >&2; exit 1; }
  done
done
echo "packages: README, MIT licence, project and repository URL ($repo_url) in all four"

mkdir -p "$work/consumer"
cd "$work/consumer"
local_feed_config "$work/feed"
cat > Consumer.csproj <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings>
    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="AttributeLock" Version="$version" />
    <PackageReference Include="AttributeLock.DistributedLock" Version="$version" />
    <PackageReference Include="AttributeLock.Testing" Version="$version" />
  </ItemGroup>
</Project>
XML
cat > Program.cs <<'CS'
using AttributeLock;
using AttributeLock.DistributedLock;
using AttributeLock.Testing;
using Medallion.Threading;

var endpoints = Environment.GetEnvironmentVariable("ETCD_ENDPOINTS")!;
await using var provider = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { endpoints }, KeyPrefix = "/package-check" });
var jobs = new Jobs(provider);
long first = await jobs.RunAsync(42, CancellationToken.None);
long second = await jobs.RunAsync(42, CancellationToken.None);
Console.WriteLine($"package consumer: generated wrapper ran under /package-check/jobs/42 with fencing tokens {first} then {second}");

// AttributeLock.DistributedLock: DistributedLock's interfaces over the same etcd; not reentrant.
IDistributedLockProvider distributed = new EtcdDistributedSynchronizationProvider(provider);
bool exclusive;
await using (IDistributedSynchronizationHandle held = await distributed.AcquireLockAsync("reports: daily/all"))
{
    await using IDistributedSynchronizationHandle? again = await distributed.TryAcquireLockAsync("reports: daily/all");
    exclusive = again is null && !held.HandleLostToken.IsCancellationRequested;
}

Console.WriteLine($"package consumer: DistributedLock provider acquired 'reports: daily/all' and refused a second holder: {exclusive}");

// AttributeLock.Testing: the same generated service against the in-memory double.
await using var inMemory = new InMemoryEtcdLockProvider();
long doubled = await new Jobs(inMemory).RunAsync(42, CancellationToken.None);
Console.WriteLine($"package consumer: in-memory double recorded {inMemory.Acquisitions.Count} acquisition of {inMemory.Acquisitions[0].Key} (token {doubled})");
return second > first && exclusive && inMemory.Acquisitions.Count == 1 ? 0 : 1;

public partial class Jobs(IEtcdLockProvider locks)
{
    [EtcdLock("/jobs/<id>", Ttl = 5)]
    public partial Task<long> RunAsync(int id, CancellationToken ct);

    private Task<long> RunAsyncCore(int id, CancellationToken ct) =>
        Task.FromResult(EtcdLockContext.Current?.FencingToken ?? throw new InvalidOperationException("not under the lock"));
}
CS
dotnet build -c Release -v q -nologo 2>&1 | grep -E "error|warn" && { echo "error: consumer did not build" >&2; exit 1; }
"$root/scripts/with-etcd.sh" dotnet bin/Release/net10.0/Consumer.dll
