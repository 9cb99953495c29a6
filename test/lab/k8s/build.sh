#!/usr/bin/env bash
# Builds the lab's Kubernetes control plane from the Go module proxy, once per
# machine: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and
# kube-proxy (the benchmarks' reference service proxy) from k8s.io/kubernetes,
# and etcd from go.etcd.io/etcd/server/v3, at the versions go.mod in this
# folder pins. The binaries go to a cache outside the
# repository, keyed by those versions and by go.mod (without comments) and
# go.sum, and are reused.
#
#   bash test/lab/k8s/build.sh          build when missing; print the bin dir
#   bash test/lab/k8s/build.sh --dir    print the bin dir only (no build)
#
# KROUTER_LAB_CACHE overrides the cache root (default /var/cache/krouter-lab).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

k8s_version=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" { print $3 }' go.mod)
etcd_version=$(awk '$1 == "require" && $2 == "go.etcd.io/etcd/server/v3" { print $3 }' go.mod)
[ -n "$k8s_version" ] && [ -n "$etcd_version" ] || { echo "k8s build: go.mod names no k8s.io/kubernetes or etcd version" >&2; exit 2; }
key=$( (grep -v "^//" go.mod; cat go.sum) | sha256sum | cut -c1-12)
root=${KROUTER_LAB_CACHE:-/var/cache/krouter-lab}
bin="$root/kubernetes-$k8s_version-etcd-$etcd_version-$key/bin"
tools=(kube-apiserver kube-controller-manager kube-scheduler kubectl kube-proxy etcd)

if [ "${1:-}" = "--dir" ]; then echo "$bin"; exit 0; fi

complete=1
for t in "${tools[@]}"; do [ -x "$bin/$t" ] || complete=0; done
if [ "$complete" = 1 ]; then echo "$bin"; exit 0; fi

# Go lives in /usr/local/go on these machines; a fresh shell may not have it on PATH.
command -v go >/dev/null 2>&1 || export PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null 2>&1 || { echo "k8s build: no Go toolchain (expected /usr/local/go/bin/go)" >&2; exit 2; }

echo "k8s build: building Kubernetes $k8s_version (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kube-proxy) and etcd $etcd_version into $bin" >&2
echo "k8s build: a cold build takes about 7-8 minutes on 2 cores (module download included); later runs reuse the cache" >&2
start=$SECONDS
tmp="$bin.partial.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

# Version stamps the release build would set (kubectl version and /version show them).
minor=${k8s_version#v1.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

echo "k8s build: downloading modules" >&2
go mod download
for t in "${tools[@]}"; do
  case $t in
    etcd) pkg=go.etcd.io/etcd/server/v3 ;;
    *) pkg=k8s.io/kubernetes/cmd/$t ;;
  esac
  echo "k8s build: $t ($((SECONDS - start)) s so far)" >&2
  go build -ldflags "$ldflags" -o "$tmp/$t" "$pkg"
done
mkdir -p "$(dirname "$bin")"
rm -rf "$bin"
mv "$tmp" "$bin"
trap - EXIT
# Builds of other versions are of no further use here.
for old in "$root"/kubernetes-*; do
  [ "$old" = "$(dirname "$bin")" ] || rm -rf "$old"
done
echo "k8s build: done in $((SECONDS - start)) s; $(du -sh "$bin" | cut -f1) in $bin" >&2
echo "$bin"
