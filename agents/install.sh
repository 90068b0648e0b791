#!/bin/sh
# Install the pinned coding-agent CLIs (package-lock.json beside this script) with `npm ci`
# into a cache outside the source tree, keyed by the lock's hash; print claude's directory last.
#
#   agents/install.sh           last line: the directory of the native `claude` binary
#                               (codex and gemini are in node_modules/.bin of the same install;
#                               node_modules/.bin/claude is only a stub, as postinstall is skipped)
#   PHASEGATE_AGENTS_CACHE=DIR  install under DIR/<hash> instead of
#                               ${XDG_CACHE_HOME:-$HOME/.cache}/phasegate/agents/<hash>
#
# Idempotent: an install directory that already has node_modules is reused and npm is not run.
# No npm on this machine: says so and exits 0 without installing (tests that need a CLI skip).
set -eu

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
lock="$here/package-lock.json"

hash=$( (sha256sum "$lock" 2>/dev/null || shasum -a 256 "$lock") | cut -c1-16)
base=${PHASEGATE_AGENTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/phasegate/agents}
dest="$base/$hash"

# claude's native binary comes from the optional package of this platform
case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) platform=linux-x64 ;;
    Linux-aarch64 | Linux-arm64) platform=linux-arm64 ;;
    Darwin-x86_64) platform=darwin-x64 ;;
    Darwin-arm64) platform=darwin-arm64 ;;
    *) platform=unknown ;;
esac
case "$platform" in
    linux-*) if ldd --version 2>&1 | grep -qi musl; then platform="$platform-musl"; fi ;;
esac
bindir="$dest/node_modules/@anthropic-ai/claude-code-$platform"

if [ -d "$dest/node_modules" ]; then
    echo "agents: already installed in $dest"
elif ! command -v npm >/dev/null 2>&1; then
    echo "agents: npm not found; install Node.js 20 or newer with npm to get the agent CLIs. Nothing installed."
    exit 0
else
    # npm ci in a fresh directory beside the final one, then rename it: an interrupted
    # install never leaves a half-filled node_modules that the check above would trust
    mkdir -p "$base"
    work=$(mktemp -d "$base/.install.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    trap 'exit 130' INT TERM
    cp "$here/package.json" "$lock" "$work/"
    echo "agents: npm ci into $dest"
    (cd "$work" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
    # mv -T (GNU) never moves into an existing directory; elsewhere plain mv when $dest is absent
    if ! mv -T "$work" "$dest" 2>/dev/null && ! { [ ! -e "$dest" ] && mv "$work" "$dest"; }; then
        # unless another install got there first, and then its result is as good as ours
        if [ ! -d "$dest/node_modules" ]; then
            echo "agents: could not move the install to $dest; remove that directory and retry" >&2
            exit 1
        fi
    fi
fi

if [ ! -x "$bindir/claude" ]; then
    echo "agents: no claude binary for this platform ($platform) in $dest;" \
        "remove that directory and run agents/install.sh again" >&2
    exit 1
fi
echo "$bindir"
