#!/usr/bin/env bash
# Installs what krouter's build, tests and lab need on Debian 12, as root:
# the Debian packages (only those missing), the npm packages (npm ci) and the
# lab's Kubernetes components (built once per machine with Go).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# netcat-openbsd, bind9-dnsutils: upstream's e2e specs run `nc` and `nslookup` inside pods (the lab runs pod commands with this machine's tools).
for pkg in curl openssl iproute2 nftables iptables ipset gobgpd golang-github-osrg-gobgp-dev containernetworking-plugins bird2 frr conntrack iperf3 netcat-openbsd bind9-dnsutils; do
  have_pkg "$pkg" || need+=("$pkg")
done
# kubectl: Debian's kubernetes-client collides with a kubectl installed by other means.
have_cmd kubectl || need+=(kubernetes-client)

if [ "${#need[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# FRR and BIRD packages start their daemons where an init system exists; the
# lab runs its own instances, so make sure no packaged instance is left running
# on a machine without systemd (they would not be started there anyway).

if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

# The lab's Kubernetes control plane (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, etcd) and its cluster DNS (CoreDNS), built from the
# Go module proxy once per machine into a cache outside the repository
# (test/lab/k8s/build.sh, test/lab/k8s/dns/build.sh).
bash test/lab/k8s/build.sh >/dev/null
bash test/lab/k8s/dns/build.sh >/dev/null
# Upstream's e2e.test and ginkgo at the same Kubernetes version, for
# `npm run lab -- upstream-e2e` (test/lab/k8s/e2e/build.sh).
bash test/lab/k8s/e2e/build.sh >/dev/null
