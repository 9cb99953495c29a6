import assert from 'node:assert/strict';
import { PNG } from 'pngjs';
import { linear, niceScale, renderPlot, tickLabel, ticks } from '../bench/plot.ts';
import {
  atBaseline,
  countNft,
  flatness,
  formatReport,
  leaks,
  Pool,
  restarts,
  soakPanels,
  soakRows,
  soakSettings,
  tally,
  type AgentSample,
  type ProbeTally,
  type Sample,
  type SoakReport,
} from '../bench/soak-report.ts';

const agent = (node: string, over: Partial<AgentSample> = {}): AgentSample => ({ node, pid: 1, rssKb: 100 * 1024, fds: 40, restarts: 0, chains: 10, sets: 4, elements: 20, routes: 4, peers: 6, ...over });

/** Churn samples of node-1 every 30 s with the given RSS (MB) and fds. */
function series(rssMb: number[], fds: number[]): Sample[] {
  return rssMb.map((r, i) => ({ t: i * 30, phase: 'churn' as const, agents: [agent('node-1', { rssKb: r * 1024, fds: fds[i]! })] }));
}

describe('bench: soak (pure parts)', () => {
  it('flatness: last churn sample over the first at or after the warm-up, within 10 %', () => {
    // Warm-up 60 s: samples at 0 and 30 s are ignored; 60 s is the reference.
    const s = series([50, 90, 100, 120, 109], [10, 30, 40, 41, 45]);
    const [rss, fds] = flatness(s, 60);
    assert.equal(rss!.metric, 'rss');
    assert.equal(rss!.afterWarmup, 100);
    assert.equal(rss!.last, 109);
    assert.equal(rss!.max, 120);
    assert.ok(Math.abs(rss!.ratio - 1.09) < 1e-9);
    assert.equal(rss!.within, true);
    assert.equal(fds!.metric, 'fds');
    assert.equal(fds!.afterWarmup, 40);
    assert.equal(fds!.last, 45);
    assert.equal(fds!.within, false);
  });

  it('flatness: exactly 1.10x is within; baseline and clean-up samples do not count; no sample after warm-up gives nothing', () => {
    const s: Sample[] = [
      { t: 0, phase: 'baseline', agents: [agent('node-1', { rssKb: 10 * 1024 })] },
      ...series([100, 100, 110], [40, 40, 44]),
      { t: 200, phase: 'cleanup', agents: [agent('node-1', { rssKb: 500 * 1024 })] },
    ];
    const [rss, fds] = flatness(s, 30);
    assert.equal(rss!.last, 110);
    assert.equal(rss!.within, true);
    assert.equal(fds!.within, true);
    assert.deepEqual(flatness(s, 1000), []);
  });

  it('leaks: per node and kind, exact return to the baseline; atBaseline needs every node', () => {
    const base = [agent('node-1'), agent('node-2')];
    const after = [agent('node-1'), agent('node-2', { chains: 11, routes: 3 })];
    const bad = leaks(base, after).filter((l) => !l.ok);
    assert.deepEqual(bad.map((l) => [l.node, l.kind, l.baseline, l.after]), [['node-2', 'chains', 10, 11], ['node-2', 'routes', 4, 3]]);
    assert.equal(atBaseline(base, after), false);
    assert.equal(atBaseline(base, [agent('node-2'), agent('node-1', { rssKb: 1, fds: 99 })]), true, 'RSS and fds are not owned objects');
    assert.equal(atBaseline(base, [agent('node-1')]), false);
  });

  it('tally: sent and failed per kind and family, a few examples kept', () => {
    const t: ProbeTally[] = [];
    for (let i = 0; i < 8; i++) tally(t, 'pod -> pod', 'ipv4', i !== 3, `fail ${i}`);
    for (let i = 0; i < 7; i++) tally(t, 'pod -> pod', 'ipv6', false, `fail ${i}`);
    assert.deepEqual(t.map((x) => [x.kind, x.family, x.sent, x.failed, x.examples.length]), [['pod -> pod', 'ipv4', 8, 1, 1], ['pod -> pod', 'ipv6', 7, 7, 5]]);
  });

  it('churn pool: filled to max, then update, delete and create again in turn; a failed operation is counted, not thrown', async () => {
    const ops: string[] = [];
    let fail = false;
    const pool = new Pool({
      name: 'pods',
      max: 2,
      create: async (i) => {
        if (fail) throw new Error('refused');
        ops.push(`create c-${i}`);
        return `c-${i}`;
      },
      update: async (name) => void ops.push(`update ${name}`),
      remove: async (name) => void ops.push(`delete ${name}`),
    });
    for (let k = 0; k < 8; k++) await pool.tick();
    assert.deepEqual(ops, ['create c-0', 'create c-1', 'update c-0', 'delete c-0', 'create c-4', 'update c-4', 'delete c-1', 'create c-7']);
    fail = true;
    await pool.tick(); // full: an update
    await pool.tick(); // a delete
    await pool.tick(); // a create, refused
    assert.deepEqual(pool.count, { kind: 'pods', created: 4, updated: 3, deleted: 3, errors: 1 });
    assert.deepEqual(pool.live, ['c-7']);
  });

  it('restarts: the kubelet count at the end minus at the start', () => {
    const s: Sample[] = [0, 0, 1, 2].map((r, i) => ({ t: i, phase: 'churn', agents: [agent('node-1', { restarts: r + 3 }), agent('node-2', { restarts: 5 })] }));
    assert.deepEqual(restarts(s), [{ node: 'node-1', restarts: 2 }, { node: 'node-2', restarts: 0 }]);
  });

  function report(): SoakReport {
    const nodes = ['node-1', 'node-2'];
    const samples: Sample[] = [
      { t: 0, phase: 'baseline', agents: nodes.map((n) => agent(n)) },
      ...[0, 30, 60, 90].map((t) => ({ t, phase: 'churn' as const, agents: nodes.map((n) => agent(n, { rssKb: (100 + t / 10) * 1024, fds: 40, chains: 14, elements: 30 })) })),
      { t: 120, phase: 'cleanup', agents: nodes.map((n) => agent(n)) },
    ];
    return {
      minutes: 1.5,
      warmupMinutes: 0.5,
      sampleSeconds: 30,
      samples,
      baseline: samples[0]!.agents,
      after: nodes.map((n) => agent(n, n === 'node-2' ? { sets: 5 } : {})),
      settledS: undefined,
      probes: [{ kind: 'router -> NodePort, TCP', family: 'ipv6', sent: 100, failed: 2, examples: ['fd00:18::b port 30000: timeout'] }],
      churn: [{ kind: 'pods', created: 10, updated: 4, deleted: 5, errors: 0 }],
    };
  }

  it('rows: RSS and fds per agent against after warm-up, owned objects summed against the baseline, failed probes, restarts', () => {
    const rows = soakRows(report());
    const rss1 = rows.find((r) => r.benchmark.includes('RSS, node-1'))!;
    assert.equal(rss1.raw, 103);
    assert.equal(rss1.krouter, 109);
    assert.equal(rss1.target, '<= 1.10x');
    const sets = rows.find((r) => r.benchmark.includes('nft sets'))!;
    assert.deepEqual([sets.krouter, sets.raw, sets.target], [9, 8, '= 1.00x']);
    const probes = rows.find((r) => r.benchmark.includes('probes failed'))!;
    assert.deepEqual([probes.krouter, probes.raw], [2, 100]);
    assert.equal(rows.filter((r) => r.benchmark.includes('open fds')).length, 2);
    assert.equal(rows.find((r) => r.benchmark.includes('restarts'))!.krouter, 0);
  });

  it('report: flatness verdicts, the leak, the probe failures, the churn', () => {
    const text = formatReport(report());
    assert.match(text, /node-1\s+RSS MB\s+103\s+109\s+109\s+1\.058x\s+yes/);
    assert.match(text, /node-2\s+nft sets and maps\s+4\s+5\s+YES \(\+1\)/);
    assert.match(text, /NOT back to the baseline/);
    assert.match(text, /router -> NodePort, TCP\s+ipv6\s+100\s+2/);
    assert.match(text, /fd00:18::b port 30000: timeout/);
    assert.match(text, /pods\s+10\s+4\s+5\s+0/);
  });

  it('settings: 10 minutes by default with 2 of warm-up; a short soak warms up for a fifth; bad values refused', () => {
    assert.deepEqual(soakSettings({}), { minutes: 10, warmupMinutes: 2, sampleSeconds: 10, tickSeconds: 3 });
    assert.deepEqual(soakSettings({ KROUTER_SOAK_MINUTES: '1.5', KROUTER_SOAK_SAMPLE_SECONDS: '5' }), { minutes: 1.5, warmupMinutes: 0.3, sampleSeconds: 5, tickSeconds: 3 });
    assert.throws(() => soakSettings({ KROUTER_SOAK_MINUTES: 'ten' }), /KROUTER_SOAK_MINUTES=ten/);
    assert.throws(() => soakSettings({ KROUTER_SOAK_MINUTES: '2', KROUTER_SOAK_WARMUP_MINUTES: '2' }), /shorter than the soak/);
  });

  it('countNft: only krouter tables; sets and maps with their elements', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.1' } },
        { table: { family: 'inet', name: 'krouter-proxy' } },
        { chain: { family: 'inet', table: 'krouter-proxy', name: 'a' } },
        { chain: { family: 'inet', table: 'krouter-proxy', name: 'b' } },
        { chain: { family: 'ip', table: 'other', name: 'c' } },
        { set: { family: 'inet', table: 'krouter-firewall', name: 's', elem: ['198.19.0.2', '198.19.1.2'] } },
        { set: { family: 'inet', table: 'krouter-firewall', name: 'empty' } },
        { map: { family: 'inet', table: 'krouter-proxy', name: 'm', elem: [[{ concat: [] }, 'x']] } },
        { set: { family: 'ip', table: 'other', name: 'z', elem: [1, 2, 3] } },
        { rule: { family: 'inet', table: 'krouter-proxy', chain: 'a' } },
      ],
    });
    assert.deepEqual(countNft(json), { chains: 2, sets: 3, elements: 3 });
  });

  it('plot panels: per-agent curves and their 1.10x lines, owned objects summed; NaN samples left out', () => {
    const r = report();
    r.samples[3]!.agents[0]!.rssKb = NaN;
    const [rss, fds, owned, elements] = soakPanels(r);
    assert.deepEqual(rss!.series.map((s) => s.label), ['node-1', '', 'node-2', '']);
    assert.equal(rss!.series[0]!.points.length, r.samples.length - 1);
    assert.deepEqual(rss!.series[1]!.points, [[0.5, 103 * 1.1], [1.5, 103 * 1.1]]);
    assert.equal(fds!.series.length, 4);
    assert.deepEqual(owned!.series.map((s) => s.label), ['nft chains', 'nft sets and maps', 'routes proto 201', 'BGP peers']);
    assert.deepEqual(owned!.series[0]!.points[1], [0, 28]);
    assert.deepEqual(elements!.series[0]!.points.map((p) => p[1]), [40, 60, 60, 60, 60, 40]);
  });

  it('plot scale: nice steps from zero; flat and empty ranges padded', () => {
    assert.deepEqual(niceScale(83, 97), { lo: 0, hi: 100, step: 20 });
    assert.deepEqual(niceScale(0, 9.2, 10, false), { lo: 0, hi: 10, step: 1 });
    assert.deepEqual(niceScale(2, 2.6, 5, false), { lo: 2, hi: 2.6, step: 0.2 });
    assert.deepEqual(niceScale(0, 0), { lo: 0, hi: 1, step: 0.2 });
    assert.deepEqual(niceScale(40, 40), { lo: 0, hi: 40, step: 10 });
    assert.deepEqual(niceScale(40, 40, 5, false), { lo: 36, hi: 44, step: 2 });
    assert.deepEqual(ticks(niceScale(83, 97)), [0, 20, 40, 60, 80, 100]);
    assert.deepEqual(ticks({ lo: 0, hi: 0.6, step: 0.2 }), [0, 0.2, 0.4, 0.6]);
    assert.equal(tickLabel(0.30000000000000004), '0.3');
    const y = linear(0, 100, 200, 0);
    assert.equal(y(0), 200);
    assert.equal(y(25), 150);
    assert.equal(linear(5, 5, 0, 10)(7), 0);
  });

  it('renderPlot: a PNG of the asked width, panels stacked, the curves drawn in their colours', () => {
    const buf = renderPlot('test', [
      { title: 'a', series: [{ label: 'red', color: [214, 39, 40], points: [[0, 1], [10, 1]] }] },
      { title: 'b', series: [{ label: 'blue', color: [31, 119, 180], points: [[0, 0], [10, 5]] }] },
    ], { width: 400, panelHeight: 150, markers: [{ x: 2, label: 'warm-up' }], xLabel: 'minutes' });
    const png = PNG.sync.read(buf);
    assert.equal(png.width, 400);
    assert.equal(png.height, 24 + 2 * 150 + 20);
    let red = 0;
    let blue = 0;
    for (let i = 0; i < png.data.length; i += 4) {
      if (png.data[i] === 214 && png.data[i + 1] === 39) red++;
      if (png.data[i] === 31 && png.data[i + 1] === 119) blue++;
    }
    assert.ok(red > 300 && blue > 300, `red ${red}, blue ${blue}`);
  });
});
