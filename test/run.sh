#!/usr/bin/env bash
# Runs every test tier: unit (no root), integration (root, real tools), e2e
# (root, the lab in every family mode). Prints per-tier counts and ends with
# one "N passed, N failed" line; exits non-zero when anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent generate
npm run --silent typecheck
npm run --silent build

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failed=0 total_pass=0 total_fail=0 total_pending=0
for tier in unit integration e2e; do
  echo "=== $tier tests ==="
  start=$SECONDS
  set +e
  npm run --silent "test:$tier" 2>&1 | tee "$logs/$tier.log"
  status=${PIPESTATUS[0]}
  set -e
  pass=$(grep -Eo '^ +[0-9]+ passing' "$logs/$tier.log" | grep -Eo '[0-9]+' | tail -1 || true)
  fail=$(grep -Eo '^ +[0-9]+ failing' "$logs/$tier.log" | grep -Eo '[0-9]+' | tail -1 || true)
  pending=$(grep -Eo '^ +[0-9]+ pending' "$logs/$tier.log" | grep -Eo '[0-9]+' | tail -1 || true)
  pass=${pass:-0} fail=${fail:-0} pending=${pending:-0}
  # A runner that crashed before counting is a failure, not an empty pass.
  if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
  if [ "$pass" -eq 0 ]; then echo "$tier: no test ran" >&2; fail=$((fail + 1)); fi
  echo "--- $tier: $pass passed, $fail failed, $pending pending ($((SECONDS - start)) s)"
  total_pass=$((total_pass + pass)) total_fail=$((total_fail + fail)) total_pending=$((total_pending + pending))
  [ "$status" -eq 0 ] && [ "$fail" -eq 0 ] || failed=1
done
# Pending tests would be skipped tests: none are allowed to count as passed.
[ "$total_pending" -eq 0 ] || failed=1
echo "tests: $total_pass passed, $total_fail failed"
exit "$failed"
