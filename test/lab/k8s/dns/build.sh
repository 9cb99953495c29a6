#!/usr/bin/env bash
# Builds CoreDNS, the lab's cluster DNS, from the Go module proxy once per
# machine, at the version go.mod in this folder pins, into a cache outside the
# repository (../go-cache.sh), and reuses it.
#
#   bash test/lab/k8s/dns/build.sh          build when missing; print the folder
#   bash test/lab/k8s/dns/build.sh --dir    print the folder only (no build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
. ../go-cache.sh

version=$(go_require github.com/coredns/coredns)
[ -n "$version" ] || { echo "dns build: go.mod names no github.com/coredns/coredns version" >&2; exit 2; }
dir=$(go_cache_dir coredns "$version")

if [ "${1:-}" = "--dir" ]; then echo "$dir"; exit 0; fi
if [ -x "$dir/coredns" ]; then echo "$dir"; exit 0; fi

go_toolchain "dns build"
echo "dns build: building CoreDNS $version into $dir (about 3 minutes on 2 cores when cold; later runs reuse the cache)" >&2
start=$SECONDS
tmp="$dir.partial.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
go build -ldflags "-s -w" -o "$tmp/coredns" github.com/coredns/coredns
go_cache_commit "$tmp" "$dir" coredns
trap - EXIT
echo "dns build: done in $((SECONDS - start)) s; $(du -sh "$dir" | cut -f1) in $dir" >&2
echo "$dir"
