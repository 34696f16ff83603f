# Shared by the scripts in this folder: sourced (`. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"`), never run.
# Installing Debian packages, and packing the packages of src/ into a local feed for a throw-away consumer.
# shellcheck shell=bash

# The repository root.
AL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# apt_install PACKAGE...: installs Debian packages with apt-get, through sudo when not root. Fails (status 1, a message
# naming the packages) when this user cannot install them.
apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "error: missing: $*; this user cannot install it (not root, no sudo)" >&2; return 1; }
    sudo="sudo"
  fi
  # Through env: sudo resets the environment, an exported DEBIAN_FRONTEND would not reach apt-get.
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# pack_local VERSION FEED PROJECT...: builds the generator, then packs each src/PROJECT at VERSION into the folder FEED
# (a local package source). On a failure, shows the build's output and fails.
pack_local() {
  local version="$1" feed="$2" log p
  shift 2
  log=$(mktemp)
  dotnet build "$AL_ROOT/generators/AttributeLock.Generators" -c Release -v q -nologo >"$log" 2>&1 \
    || { cat "$log" >&2; rm -f "$log"; echo "error: the generator did not build" >&2; return 1; }
  for p in "$@"; do
    dotnet pack "$AL_ROOT/src/$p" -c Release -o "$feed" -p:Version="$version" -v q -nologo >"$log" 2>&1 \
      || { cat "$log" >&2; rm -f "$log"; echo "error: dotnet pack of $p failed" >&2; return 1; }
    [ -f "$feed/$p.$version.nupkg" ] || { rm -f "$log"; echo "error: dotnet pack made no $p package" >&2; return 1; }
  done
  rm -f "$log"
}

# forget_packed VERSION PROJECT...: removes those packages at VERSION from the NuGet cache, where a consumer's restore
# put them (for an EXIT trap: throw-away versions should not pile up in the cache).
forget_packed() {
  local version="$1" packages="${NUGET_PACKAGES:-$HOME/.nuget/packages}" p
  shift
  [ -n "$version" ] || return 0
  for p in "$@"; do
    rm -rf "${packages:?}/${p,,}/$version"
  done
}

# local_feed_config FEED: writes ./nuget.config with FEED as a package source (besides the machine's sources).
local_feed_config() {
  cat > nuget.config <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="attributelock-local" value="$1" />
  </packageSources>
</configuration>
XML
}
