#!/usr/bin/env bash
# Runs every test tier: unit (no root), integration (root, real tools), e2e (root, the lab).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent generate
npm run --silent typecheck
npm run --silent build
failed=0
for tier in unit integration e2e; do
  echo "=== $tier tests ==="
  npm run --silent "test:$tier" || failed=1
done
exit "$failed"
