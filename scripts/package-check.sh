#!/usr/bin/env bash
# Packs src/AttributeLock, then builds and runs a throw-away consumer that gets the library and its source generator
# from that package alone (a local folder source), against a real etcd (scripts/with-etcd.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work" "${NUGET_PACKAGES:-$HOME/.nuget/packages}/attributelock/$version"' EXIT
version="0.1.0-check.$(date +%s)"
dotnet build "$root/generators/AttributeLock.Generators" -c Release -v q -nologo >/dev/null
dotnet pack "$root/src/AttributeLock" -c Release -o "$work/feed" -p:Version="$version" -v q -nologo >/dev/null
pkg="$work/feed/AttributeLock.$version.nupkg"
unzip -l "$pkg" | grep -q "analyzers/dotnet/cs/AttributeLock.Generators.dll" || { echo "error: the package lacks the generator under analyzers/dotnet/cs" >&2; exit 1; }
echo "package: $(basename "$pkg") carries lib/net10.0/AttributeLock.dll and analyzers/dotnet/cs/AttributeLock.Generators.dll"

mkdir -p "$work/consumer"
cd "$work/consumer"
cat > nuget.config <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="attributelock-local" value="$work/feed" />
  </packageSources>
</configuration>
XML
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
  </ItemGroup>
</Project>
XML
cat > Program.cs <<'CS'
using AttributeLock;

var endpoints = Environment.GetEnvironmentVariable("ETCD_ENDPOINTS")!;
await using var provider = new EtcdLockProvider(new EtcdLockProviderOptions { Endpoints = { endpoints }, KeyPrefix = "/package-check" });
var jobs = new Jobs(provider);
long first = await jobs.RunAsync(42, CancellationToken.None);
long second = await jobs.RunAsync(42, CancellationToken.None);
Console.WriteLine($"package consumer: generated wrapper ran under /package-check/jobs/42 with fencing tokens {first} then {second}");
return second > first ? 0 : 1;

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
