#!/usr/bin/env bash
# Native AOT check of the packages as a consumer gets them. Packs src/AttributeLock and src/AttributeLock.HealthChecks,
# publishes a throw-away consumer of those packages with <PublishAot>true</PublishAot> in its project file, fails on any
# trim or AOT warning (IL2xxx/IL3xxx, counted per assembly in the publish output), then runs the native binary against a
# real etcd (scripts/with-etcd.sh): options bound from environment variables (EtcdLocks__Endpoints as one
# comma-separated value, KeyPrefix, DefaultTtlSeconds, ConnectTimeout) and checked, a lock taken through a generated
# [EtcdLock] wrapper (the body runs under it, the key is in etcd with the configured TTL, and gone afterwards), and the
# health check (AddHealthChecks().AddEtcdLocks()) Healthy. Also builds the same consumer for the JIT and prints both
# binaries' sizes and start-up times to the first held lock (informational, never a failure).
# Installs clang and zlib1g-dev (the native linker's needs) with apt-get when they are missing.
# AOT_CHECK_KEEP=DIR keeps both builds of the consumer (DIR/aot, DIR/jit) for measurements.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
root="$AL_ROOT"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

if ! command -v clang >/dev/null 2>&1 || [ ! -f /usr/include/zlib.h ]; then
  echo "aot-check: installing clang and zlib1g-dev (needed to link the native binary)" >&2
  apt_install clang zlib1g-dev || exit 1
fi

projects=(AttributeLock AttributeLock.HealthChecks)
work=$(mktemp -d)
version="0.1.0-aot.$(date +%s)"
trap 'rm -rf "$work"; forget_packed "$version" "${projects[@]}"' EXIT
pack_local "$version" "$work/feed" "${projects[@]}"
echo "aot-check: packed AttributeLock and AttributeLock.HealthChecks $version"

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
    <InvariantGlobalization>true</InvariantGlobalization>
    <PublishAot>true</PublishAot>
    <!-- Every trim/AOT warning, one per call site, instead of one IL2104 per assembly: this script counts them. -->
    <TrimmerSingleWarn>false</TrimmerSingleWarn>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="AttributeLock" Version="$version" />
    <PackageReference Include="AttributeLock.HealthChecks" Version="$version" />
    <PackageReference Include="Microsoft.Extensions.Configuration.EnvironmentVariables" Version="10.0.14" />
    <PackageReference Include="Microsoft.Extensions.DependencyInjection" Version="10.0.14" />
    <PackageReference Include="Microsoft.Extensions.Logging" Version="10.0.14" />
  </ItemGroup>
</Project>
XML
cat > Program.cs <<'CS'
using System.Diagnostics;
using AttributeLock;
using dotnet_etcd;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

// args: the expected KeyPrefix, DefaultTtlSeconds, ConnectTimeout and number of endpoints.
string expectedPrefix = args[0];
int expectedTtl = int.Parse(args[1]);
TimeSpan expectedTimeout = TimeSpan.Parse(args[2]);
int expectedEndpoints = int.Parse(args[3]);
var failures = new List<string>();
void Check(bool ok, string what) { if (!ok) { failures.Add(what); } }

IConfiguration configuration = new ConfigurationBuilder().AddEnvironmentVariables().Build();
var services = new ServiceCollection().AddLogging();
services.AddEtcdLocks(configuration.GetSection("EtcdLocks"));
services.AddHealthChecks().AddEtcdLocks();
services.AddSingleton<Jobs>();
await using ServiceProvider sp = services.BuildServiceProvider();

EtcdLockProviderOptions options = sp.GetRequiredService<IOptions<EtcdLockProviderOptions>>().Value;
Console.WriteLine($"bound options: {options}");
Check(options.KeyPrefix == expectedPrefix, $"KeyPrefix {options.KeyPrefix} != {expectedPrefix}");
Check(options.DefaultTtlSeconds == expectedTtl, $"DefaultTtlSeconds {options.DefaultTtlSeconds} != {expectedTtl}");
Check(options.ConnectTimeout == expectedTimeout, $"ConnectTimeout {options.ConnectTimeout} != {expectedTimeout}");
Check(options.Endpoints.Count == expectedEndpoints, $"{options.Endpoints.Count} endpoints bound, expected {expectedEndpoints} (one comma-separated variable)");

var provider = sp.GetRequiredService<EtcdLockProvider>();
using var plain = new EtcdClient(options.Endpoints[0]);
Jobs.Plain = plain;
Jobs.HolderId = provider.HolderId;
int id = Random.Shared.Next(1000, 9999);
(string key, long ttl, bool sawKey) = await sp.GetRequiredService<Jobs>().RunAsync(id, CancellationToken.None);
Check(key == $"{expectedPrefix}/jobs/{id}", $"held key {key}, expected {expectedPrefix}/jobs/{id}");
Check(ttl == expectedTtl, $"the hold's lease TTL is {ttl} s, expected DefaultTtlSeconds {expectedTtl}");
Check(sawKey, "the key was not in etcd with this provider's holder id while the body ran");
Check((await plain.GetAsync(key)).Kvs.Count == 0, $"{key} is still in etcd after the wrapper returned");

HealthReport health = await sp.GetRequiredService<HealthCheckService>().CheckHealthAsync();
Console.WriteLine($"health: {health.Status} ({string.Join("; ", health.Entries.Select(e => $"{e.Key}: {e.Value.Description}"))})");
Check(health.Status == HealthStatus.Healthy, $"health {health.Status}");

foreach (string f in failures)
{
    Console.Error.WriteLine($"FAIL: {f}");
}

Console.WriteLine(failures.Count == 0 ? $"aot consumer: OK ({(RuntimeFeature.IsDynamicCodeSupported ? "JIT" : "native AOT")})" : "aot consumer: FAILED");
return failures.Count == 0 ? 0 : 1;

public partial class Jobs(IEtcdLockProvider locks)
{
    internal static EtcdClient Plain = null!;
    internal static string HolderId = "";

    [EtcdLock("/jobs/<id>")]
    public partial Task<(string Key, long Ttl, bool SawKey)> RunAsync(int id, CancellationToken ct);

    private async Task<(string Key, long Ttl, bool SawKey)> RunAsyncCore(int id, CancellationToken ct)
    {
        EtcdLockHandle handle = EtcdLockContext.Current ?? throw new InvalidOperationException("the body ran outside the lock");
        // Start-up to the first held lock: from the process's start (as the kernel recorded it) to here.
        TimeSpan sinceStart = DateTime.Now - Process.GetCurrentProcess().StartTime;
        Console.WriteLine($"first lock held {sinceStart.TotalMilliseconds:0} ms after process start: {handle.Key} lease {handle.LeaseId} ttl {handle.TtlSeconds} s token {handle.FencingToken}");
        var kvs = (await Plain.GetAsync(handle.Key, cancellationToken: ct)).Kvs;
        bool sawKey = kvs.Count == 1 && kvs[0].Value.ToStringUtf8() == HolderId && kvs[0].Lease == handle.LeaseId;
        return (handle.Key, handle.TtlSeconds, sawKey);
    }
}
CS
sed -i 's/^using System.Diagnostics;/using System.Diagnostics;\nusing System.Runtime.CompilerServices;/' Program.cs

echo "aot-check: dotnet publish (PublishAot=true) ..."
start=$SECONDS
set +e
dotnet publish -c Release -o "$work/aot" -nologo -clp:NoSummary >"$work/publish.log" 2>&1
status=$?
set -e
if [ "$status" -ne 0 ]; then
  cat "$work/publish.log" >&2
  echo "error: the native publish failed" >&2
  exit 1
fi
echo "aot-check: published in $((SECONDS - start)) s"

# Trim/AOT warnings, each once (MSBuild may repeat a line), counted by the assembly they come from.
{ grep -E "warning IL[23][0-9]{3}" "$work/publish.log" || true; } | sort -u >"$work/il-warnings.txt"
warnings=$(wc -l <"$work/il-warnings.txt")
if [ "$warnings" -gt 0 ]; then
  echo "trim/AOT warnings by assembly:"
  # By the namespace that the warned member is in (for these packages, its assembly): "warning IL2026: Ns.Type.Member(...)".
  sed -E 's#^.*warning (IL[0-9]+): ([A-Za-z0-9_]+)[^ ]*.*#\2 \1#' "$work/il-warnings.txt" | sort | uniq -c | sort -rn
  head -20 "$work/il-warnings.txt"
  echo "error: $warnings trim/AOT warning(s) in the native publish" >&2
  exit 1
fi
echo "aot-check: 0 trim/AOT warnings (IL2xxx/IL3xxx)"

binary="$work/aot/Consumer"
[ -x "$binary" ] || { echo "error: no native binary at $binary" >&2; exit 1; }
size=$(stat -c %s "$binary")

# The same consumer for the JIT, for comparison.
dotnet build -c Release -p:PublishAot=false -o "$work/jit" -nologo -v q >/dev/null 2>&1 || { echo "error: the JIT build of the consumer failed" >&2; exit 1; }
jit_size=$(du -sb "$work/jit" | awk '{print $1}')

run() {
  # One (comma-separated) variable for the endpoints, as containers set it: the same endpoint twice.
  EtcdLocks__Endpoints="$ETCD_ENDPOINTS,$ETCD_ENDPOINTS" EtcdLocks__KeyPrefix="/aot-check/$version" \
  EtcdLocks__DefaultTtlSeconds=7 EtcdLocks__ConnectTimeout=00:00:04 \
    "$@" "/aot-check/$version" 7 00:00:04 2
}
export -f run
export version
echo "aot-check: running the native binary against etcd"
"$root/scripts/with-etcd.sh" bash -c '
  set -e
  run "$0" | tee "$1/aot.out"
  run dotnet "$2" > "$1/jit.out"
' "$binary" "$work" "$work/jit/Consumer.dll"
grep -q "aot consumer: OK (native AOT)" "$work/aot.out" || { echo "error: the native consumer did not pass" >&2; exit 1; }
grep -q "aot consumer: OK (JIT)" "$work/jit.out" || { cat "$work/jit.out" >&2; echo "error: the JIT consumer did not pass" >&2; exit 1; }
first() { grep -oE "first lock held [0-9]+ ms" "$1" | grep -oE "[0-9]+"; }
echo "aot-check: native binary $((size / 1024)) KiB (one file) vs JIT build $((jit_size / 1024)) KiB (folder, runtime not counted);" \
  "first lock held $(first "$work/aot.out") ms (AOT) vs $(first "$work/jit.out") ms (JIT) after process start"
if [ -n "${AOT_CHECK_KEEP:-}" ]; then
  mkdir -p "$AOT_CHECK_KEEP" && cp -r "$work/aot" "$work/jit" "$work/publish.log" "$AOT_CHECK_KEEP/"
  echo "aot-check: kept the builds in $AOT_CHECK_KEEP"
fi
echo "aot-check: OK"
