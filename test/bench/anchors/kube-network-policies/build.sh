#!/usr/bin/env bash
# Builds kube-network-policies (its cmd package, the `netpol` binary of its
# image) from the Go module proxy, once per machine, at the version go.mod in
# this folder requires. The binary goes to a cache outside the repository,
# keyed by that version and by go.mod (without comments) and go.sum, and is
# reused; the benchmark that runs it calls this when it is missing.
#
#   bash test/bench/anchors/kube-network-policies/build.sh         build when missing; print the binary's path
#   bash test/bench/anchors/kube-network-policies/build.sh --path  print the binary's path only (no build)
#
# KROUTER_LAB_CACHE overrides the cache root (default /var/cache/krouter-lab).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

module=sigs.k8s.io/kube-network-policies
version=$(awk -v m="$module" '($1 == "require" && $2 == m) { print $3 } ($1 == m) { print $2 }' go.mod | head -n1)
[ -n "$version" ] || { echo "kube-network-policies build: go.mod requires no $module" >&2; exit 2; }
key=$( (grep -v "^//" go.mod; cat go.sum) | sha256sum | cut -c1-12)
root=${KROUTER_LAB_CACHE:-/var/cache/krouter-lab}
dir="$root/kube-network-policies-$version-$key"
bin="$dir/bin/kube-network-policies"

if [ "${1:-}" = "--path" ]; then echo "$bin"; exit 0; fi
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

# Go lives in /usr/local/go on these machines; a fresh shell may not have it on PATH.
command -v go >/dev/null 2>&1 || export PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null 2>&1 || { echo "kube-network-policies build: no Go toolchain (expected /usr/local/go/bin/go)" >&2; exit 2; }

echo "kube-network-policies build: building $module $version into $dir (a few minutes on 2 cores; later runs reuse it)" >&2
start=$SECONDS
tmp="$dir.partial.$$"
rm -rf "$tmp"
mkdir -p "$tmp/bin"
trap 'rm -rf "$tmp"' EXIT
go mod download
go build -ldflags "-s -w" -o "$tmp/bin/kube-network-policies" "$module/cmd"
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
# Builds of other versions or go.mod files are of no further use here.
for old in "$root"/kube-network-policies-*; do
  [ "$old" = "$dir" ] || rm -rf "$old"
done
echo "kube-network-policies build: done in $((SECONDS - start)) s; $(du -sh "$dir" | cut -f1) in $dir" >&2
echo "$bin"
