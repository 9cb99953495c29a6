import assert from 'node:assert/strict';
import { cellOf, checkServices, judge, planProbes, renderTable, type CheckPod } from '../lab/check.ts';

const spec = { family: 'dual' as const, nodes: ['node-1', 'node-2'], router: 'bird' as const };
const pod = (name: string, node: string, i: number): CheckPod => ({ key: `demo/${name}`, name, node, ips: { ipv4: `198.19.${i}.2`, ipv6: `fd00:19:0:${i}::2` }, tcp: [8080], udp: [8081], socket: `/x/${name}.sock` });
const pods = [pod('a', 'node-1', 0), pod('b', 'node-1', 0), pod('c', 'node-2', 1)];

describe('lab check', () => {
  it('plans pod, node and egress probes over every family, cross-node per expectation', () => {
    const plan = planProbes(spec, pods, false);
    const a = plan.get('demo/a')!;
    // 2 other pods x 2 families x (tcp+udp) + node x 2 families + router x 2 families x 2 protos
    assert.equal(a.length, 8 + 2 + 4);
    assert.deepEqual([...new Set(a.filter((p) => p.row.to === 'demo/c').map((p) => [p.row.kind, p.row.expected].join()))], ['cross-node,false']);
    assert.deepEqual([...new Set(a.filter((p) => p.row.to === 'demo/b').map((p) => [p.row.kind, p.row.expected].join()))], ['same-node,true']);
    const egress = a.filter((p) => p.row.kind === 'egress');
    assert.deepEqual(egress.map((p) => [p.row.host, p.expectSource]), [
      ['198.18.200.1', '198.18.0.11'], ['198.18.200.1', '198.18.0.11'],
      ['fd00:200::1', 'fd00:18::b'], ['fd00:200::1', 'fd00:18::b'],
    ]);
    assert.ok(planProbes(spec, pods, true).get('demo/a')!.filter((p) => p.row.kind === 'cross-node').every((p) => p.row.expected));
    assert.equal(planProbes({ ...spec, family: 'ipv6', router: 'none' }, pods, false).get('demo/a')!.length, 4 + 1);
  });

  it('judges replies: the target name, and for egress the masqueraded source', () => {
    const plan = planProbes(spec, pods, false).get('demo/a')!;
    const toB = plan.find((p) => p.row.to === 'demo/b')!;
    assert.equal(judge(toB, { ok: true, reply: 'b\n' }).result, 'ok');
    assert.equal(judge(toB, { ok: true, reply: 'c\n' }).result, 'FAIL');
    assert.equal(judge(toB, { ok: false, error: 'timeout' }).detail, 'timeout');
    const toC = plan.find((p) => p.row.to === 'demo/c')!;
    assert.equal(judge(toC, { ok: false, error: 'timeout' }).result, 'expected-fail');
    assert.equal(judge(toC, { ok: true, reply: 'c' }).result, 'unexpected-ok');
    const egress = plan.find((p) => p.row.kind === 'egress')!;
    assert.equal(judge(egress, { ok: true, reply: 'router 198.18.0.11\n' }).result, 'ok');
    const raw = judge(egress, { ok: true, reply: 'router 198.19.0.2\n' });
    assert.deepEqual([raw.result, raw.detail], ['FAIL', 'router saw 198.19.0.2, not the node address 198.18.0.11 (not masqueraded)']);
  });

  it('prints a matrix whose cells show the worst result, with failures listed', () => {
    const plan = planProbes(spec, pods, false);
    const rows = [...plan.values()].flat().map((p) => judge(p, p.row.kind === 'cross-node' ? { ok: false, error: 'timeout' } : p.row.kind === 'egress' && p.row.family === 'ipv6' ? { ok: false, error: 'timeout' } : { ok: true, reply: p.expectSource ? `router ${p.expectSource}` : `${p.expectReply}` }));
    assert.equal(cellOf(rows.filter((r) => r.from === 'demo/a' && r.to === 'demo/b')), 'ok');
    assert.equal(cellOf(rows.filter((r) => r.from === 'demo/a' && r.to === 'demo/c')), 'x');
    assert.equal(cellOf(rows.filter((r) => r.from === 'demo/a' && r.kind === 'egress')), 'FAIL');
    const table = renderTable(spec, pods, rows, ['note line']);
    const lines = table.split('\n');
    assert.match(lines[0]!, /^from \\ to\s+a\s+b\s+c\s+own node\s+router$/);
    assert.match(lines[2]!, /^a \(node-1\)\s+-\s+ok\s+x\s+ok\s+FAIL$/);
    assert.ok(lines.includes('note line'));
    assert.ok(lines.some((l) => /demo\/a -> router ipv6\/tcp fd00:200::1 port 18080: timeout/.test(l)));
  });

  it('probes services through each ClusterIP on their ports, answered by one of the pods their selector picks', () => {
    const apiPods = ['a', 'b', 'c'].map((n) => ({ metadata: { name: n, namespace: 'demo', labels: { app: n === 'c' ? 'other' : 'web' } } }));
    const services = checkServices(
      [
        { metadata: { name: 'web', namespace: 'demo' }, spec: { selector: { app: 'web' }, clusterIPs: ['198.18.240.10', 'fd00:20::a'], ports: [{ port: 80, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }, { port: 9, protocol: 'SCTP' }] } },
        { metadata: { name: 'headless', namespace: 'demo' }, spec: { selector: { app: 'web' }, clusterIPs: ['None'], ports: [{ port: 80 }] } },
        { metadata: { name: 'manual', namespace: 'demo' }, spec: { clusterIPs: ['198.18.240.11'], ports: [{ port: 80 }] } },
      ],
      apiPods,
    );
    assert.deepEqual(services, [{ key: 'demo/web', clusterIPs: { ipv4: '198.18.240.10', ipv6: 'fd00:20::a' }, ports: [{ proto: 'tcp', port: 80 }, { proto: 'udp', port: 53 }], backends: ['a', 'b'] }]);
    const a = planProbes(spec, pods, true, 1500, { list: services, expected: true }).get('demo/a')!.filter((p) => p.row.kind === 'service');
    assert.deepEqual(a.map((p) => `${p.row.family} ${p.probe.proto} ${p.probe.host}:${p.probe.port}`), ['ipv4 tcp 198.18.240.10:80', 'ipv4 udp 198.18.240.10:53', 'ipv6 tcp fd00:20::a:80', 'ipv6 udp fd00:20::a:53']);
    assert.equal(judge(a[0]!, { ok: true, reply: 'b 198.19.0.2' }).result, 'ok');
    assert.equal(judge(a[0]!, { ok: true, reply: 'c' }).result, 'FAIL', 'a pod the service does not select');
    const table = renderTable(spec, pods, a.map((p) => judge(p, { ok: true, reply: 'a' })), [], services);
    assert.match(table.split('\n')[0]!, /router\s+svc demo\/web$/);
  });
});
