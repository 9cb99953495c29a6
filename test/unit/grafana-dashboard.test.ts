/**
 * deploy/grafana/krouter-dashboard.json is importable: well-formed JSON, the
 * data source a variable every panel uses, every panel with queries, and every
 * metric it queries one that krouter's code registers (the lab's e2e checks
 * them on running agents: test/e2e/operator-tools.test.ts).
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { Metrics } from '../../core/services/metrics.ts';
import { allPanels, expressions, loadDashboard, metricFamilies, metricNamesOf, missingMetrics } from '../helpers/dashboard.ts';

/** Names (without the krouter_ prefix) registered through the Metrics service anywhere under core/, plugins/, sdk/src/. */
function registeredInCode(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((f) => {
      const p = path.join(dir, f);
      return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
    });
  for (const file of ['core', 'plugins', 'sdk/src'].flatMap(walk)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\.(counter|gauge|histogram)\(\{\s*name:\s*'([a-z0-9_]+)'/g)) out.set(`krouter_${m[2]}`, m[1]!);
  }
  return out;
}

describe('Grafana dashboard', () => {
  const dashboard = loadDashboard();

  it('has a title, a uid and a Prometheus data source variable', () => {
    assert.equal(dashboard.title, 'krouter');
    assert.ok(dashboard.uid && dashboard.schemaVersion > 0);
    const ds = dashboard.templating.list.filter((v) => v.type === 'datasource');
    assert.deepEqual(ds.map((v) => [v.name, v.query]), [['datasource', 'prometheus']]);
  });

  it('every panel but rows has targets with a query, its own refIds, the data source variable and a place on the grid', () => {
    const panels = allPanels(dashboard);
    assert.ok(panels.filter((p) => p.type !== 'row').length >= 10, 'panels');
    assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, 'panel ids are unique');
    for (const p of panels) {
      assert.ok(p.gridPos && p.gridPos.w > 0 && p.gridPos.h > 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title}: gridPos`);
      if (p.type === 'row') continue;
      assert.ok(p.title, `panel ${p.id} has a title`);
      assert.ok(p.targets?.length, `${p.title}: targets`);
      assert.equal(new Set(p.targets!.map((t) => t.refId)).size, p.targets!.length, `${p.title}: refIds`);
      for (const t of p.targets!) assert.ok(t.expr.trim(), `${p.title} ${t.refId}: expr`);
      for (const ds of [p.datasource, ...p.targets!.map((t) => t.datasource)]) assert.equal(ds?.uid, '${datasource}', `${p.title}: data source is the variable`);
    }
    for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) assert.equal(v.datasource?.uid, '${datasource}', `variable ${v.name}`);
  });

  it('covers what an operator watches: BGP sessions, routes per family, syncs, nftables sizes, denies, memory, gobgpd restarts', () => {
    const names = new Set(expressions(dashboard).flatMap(metricNamesOf));
    for (const n of [
      'krouter_bgp_peer_state',
      'krouter_router_routes_installed',
      'krouter_sync_duration_seconds_bucket',
      'krouter_service_proxy_last_transaction_bytes',
      'krouter_firewall_last_script_bytes',
      'krouter_firewall_denied_packets_total',
      'krouter_process_resident_memory_bytes',
      'krouter_nodejs_heap_size_used_bytes',
      'krouter_gobgpd_restarts_total',
    ]) assert.ok(names.has(n), n);
  });

  it('extracts metric names from PromQL, not functions, labels, keywords or variables', () => {
    assert.deepEqual(
      metricNamesOf('histogram_quantile(0.99, sum by (reconciler, le) (rate(krouter_sync_duration_seconds_bucket{instance=~"$instance", x="a b"}[$__rate_interval])))'),
      ['krouter_sync_duration_seconds_bucket'],
    );
    assert.deepEqual(metricNamesOf('count by (instance) (krouter_bgp_peer_state{instance=~"$instance"} == 6) / on (instance) group_left up offset 5m'), ['krouter_bgp_peer_state', 'up']);
    assert.deepEqual(metricNamesOf('sum(rate(a_sum[5m])) / sum(rate(a_count[5m])) > bool 1e3'), ['a_sum', 'a_count']);
    assert.deepEqual(metricNamesOf('label_values(krouter_process_start_time_seconds, instance)'), ['krouter_process_start_time_seconds']);
    assert.deepEqual(missingMetrics(['h_bucket', 'h_sum', 'g', 'g_sum', 'nope'], new Map([['h', 'histogram'], ['g', 'gauge']])), ['g_sum', 'nope']);
  });

  it('queries only metrics krouter registers (its code, and the process and Node.js defaults)', async () => {
    const defaults = metricFamilies((await new Metrics().render()).body);
    const known = new Map([...defaults, ...registeredInCode()]);
    assert.ok(known.has('krouter_bgp_peer_state') && known.has('krouter_process_resident_memory_bytes'), 'the registry scan finds metrics');
    const names = new Set(expressions(dashboard).flatMap(metricNamesOf));
    assert.deepEqual(missingMetrics(names, known), []);
  });
});
