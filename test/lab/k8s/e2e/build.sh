#!/usr/bin/env bash
# Builds upstream's end-to-end test binary, e2e.test, and the ginkgo command
# that runs its specs in parallel processes, from the Go module proxy, once per
# machine, at the k8s.io/kubernetes version go.mod in this folder pins (the
# same as the control plane's, ../go.mod; ginkgo at the version e2e.test was
# written against), into a cache outside the repository (../go-cache.sh), and
# reuses them.
#
#   bash test/lab/k8s/e2e/build.sh          build when missing; print the folder
#   bash test/lab/k8s/e2e/build.sh --dir    print the folder only (no build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
. ../go-cache.sh

version=$(go_require k8s.io/kubernetes)
cp_version=$(cd .. && go_require k8s.io/kubernetes)
[ -n "$version" ] || { echo "e2e build: go.mod names no k8s.io/kubernetes version" >&2; exit 2; }
[ "$version" = "$cp_version" ] || { echo "e2e build: go.mod pins k8s.io/kubernetes $version but the control plane (../go.mod) pins $cp_version; pin the same version in both" >&2; exit 2; }
dir=$(go_cache_dir e2e "$version")

if [ "${1:-}" = "--dir" ]; then echo "$dir"; exit 0; fi
if [ -x "$dir/e2e.test" ] && [ -x "$dir/ginkgo" ]; then echo "$dir"; exit 0; fi

go_toolchain "e2e build"
echo "e2e build: building e2e.test of Kubernetes $version and ginkgo into $dir (about 3 minutes on 2 cores after the control plane's build, whose modules and compiled packages it shares; later runs reuse the cache)" >&2
start=$SECONDS
tmp="$dir.partial.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
go test -c -ldflags "-s -w" -o "$tmp/e2e.test" k8s.io/kubernetes/test/e2e
go build -ldflags "-s -w" -o "$tmp/ginkgo" github.com/onsi/ginkgo/v2/ginkgo
go_cache_commit "$tmp" "$dir" e2e
trap - EXIT
echo "e2e build: done in $((SECONDS - start)) s; $(du -sh "$dir" | cut -f1) in $dir" >&2
echo "$dir"
