#!/usr/bin/env bash
# Builds upstream's end-to-end test binary, e2e.test, and the ginkgo command
# that runs its specs in parallel processes, from the Go module proxy, once per
# machine, at the k8s.io/kubernetes version go.mod in this folder pins (the
# same as the control plane's, ../go.mod; ginkgo at the version e2e.test was
# written against). Both go to a cache outside the repository keyed by that
# version and by go.mod (without comments) and go.sum, and are reused.
#
#   bash test/lab/k8s/e2e/build.sh          build when missing; print the folder
#   bash test/lab/k8s/e2e/build.sh --dir    print the folder only (no build)
#
# KROUTER_LAB_CACHE overrides the cache root (default /var/cache/krouter-lab).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

version=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" { print $3 }' go.mod)
cp_version=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" { print $3 }' ../go.mod)
[ -n "$version" ] || { echo "e2e build: go.mod names no k8s.io/kubernetes version" >&2; exit 2; }
[ "$version" = "$cp_version" ] || { echo "e2e build: go.mod pins k8s.io/kubernetes $version but the control plane (../go.mod) pins $cp_version; pin the same version in both" >&2; exit 2; }
key=$( (grep -v "^//" go.mod; cat go.sum) | sha256sum | cut -c1-12)
root=${KROUTER_LAB_CACHE:-/var/cache/krouter-lab}
dir="$root/e2e-$version-$key"

if [ "${1:-}" = "--dir" ]; then echo "$dir"; exit 0; fi
if [ -x "$dir/e2e.test" ] && [ -x "$dir/ginkgo" ]; then echo "$dir"; exit 0; fi

command -v go >/dev/null 2>&1 || export PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null 2>&1 || { echo "e2e build: no Go toolchain (expected /usr/local/go/bin/go)" >&2; exit 2; }

echo "e2e build: building e2e.test of Kubernetes $version and ginkgo into $dir" >&2
echo "e2e build: a cold build takes a few minutes on 2 cores (module download included); later runs reuse the cache" >&2
start=$SECONDS
tmp="$dir.partial.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
go mod download
go test -c -ldflags "-s -w" -o "$tmp/e2e.test" k8s.io/kubernetes/test/e2e
go build -ldflags "-s -w" -o "$tmp/ginkgo" github.com/onsi/ginkgo/v2/ginkgo
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
for old in "$root"/e2e-*; do
  [ "$old" = "$dir" ] || rm -rf "$old"
done
echo "e2e build: done in $((SECONDS - start)) s; $(du -sh "$dir" | cut -f1) in $dir" >&2
echo "$dir"
