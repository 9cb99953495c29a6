#!/usr/bin/env bash
# The main job: install what is needed, build krouter, bring up the lab cluster
# (dual-stack, 3 nodes, BIRD as the external router), run demo pods on every
# node and print the connectivity matrix. Leaves the lab up to explore;
# `npm run lab -- down` removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent generate
npm run --silent build
exec npm run --silent lab -- demo "$@"
