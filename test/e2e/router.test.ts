/**
 * The router plugin end to end on the lab, in each of ipv4, ipv6 and dual
 * (3 nodes, BIRD as the external router), one lab per mode:
 * - `lab check` passes, cross-node pod to pod TCP and UDP over every family;
 * - each node's gobgp RIB per family holds exactly the pod CIDRs of that
 *   family (and the router's prefix of it) with next hops of that family,
 *   and both RIBs answer in single-family modes too;
 * - BIRD learns every node's pod CIDR per family from that node only, via
 *   the node's own address;
 * - the router's originated prefix is installed on every node, its default
 *   route is not;
 * - a node deleted from the API: its pod routes leave every other node's
 *   kernel and BIRD.
 * Root: the lab makes namespaces and links.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { agentPodRecord, gobgpdPid } from '../lab/agents.ts';
import { capabilitiesOfMask, containerCapabilities } from '../lab/kubelet/capabilities.ts';
import { familyOf, type Family } from '../../sdk/src/families.ts';
import { gobgpRib, nodeKrouterRoutes, kernelRoutes, routerRoutes, type RouterRoute } from '../lab/bgp-inspect.ts';
import { nodeNetns, nodePaths, routerOriginated, routerUnderlay, type LabSpec } from '../lab/config.ts';
import { labCli, labForSuite, until } from '../lab/testing.ts';

const ALL: Family[] = ['ipv4', 'ipv6'];

interface CheckJson {
  ok: boolean;
  rows: Array<{ from: string; to: string; kind: string; family: Family; proto: 'tcp' | 'udp'; result: string; detail: string; host: string }>;
}

/** BGP routes BIRD learned from the nodes (not what it originates). */
const learnedAtRouter = (spec: LabSpec, f: Family): RouterRoute[] => routerRoutes(spec, f).filter((r) => r.fromBgp);

for (const mode of ['ipv4', 'ipv6', 'dual'] as const) {
  describe(`router e2e: pod routes over BGP (${mode}, 3 nodes, BIRD)`, function () {
    this.timeout(300_000);
    const lab = labForSuite(`krlab-router-${mode}-`, ['--family', mode, '--nodes', '3', '--router', 'bird'], { demoWorkloads: true });

    before(function () {
      assert.deepEqual(lab.nodes.map((n) => n.name), lab.spec.nodes);
      for (const n of lab.nodes) for (const f of lab.fams) assert.ok(n.podCidrs[f] && n.addresses[f], `${n.name} has a ${f} pod CIDR and address`);
    });


    it('`lab check` passes: cross-node pod to pod TCP and UDP over every enabled family', function () {
      // The CLI exits non-zero when an expected path fails: labCli throws with the matrix.
      const out = labCli(lab.stateDir, ['check', '--json']);
      const res = JSON.parse(out) as CheckJson;
      assert.equal(res.ok, true, out);
      for (const f of lab.fams) {
        for (const proto of ['tcp', 'udp'] as const) {
          const rows = res.rows.filter((r) => r.kind === 'cross-node' && r.family === f && r.proto === proto);
          // 6 pods, 4 on other nodes each, one port per protocol.
          assert.equal(rows.length, 6 * 4, `cross-node ${f}/${proto} probes`);
          assert.deepEqual(rows.filter((r) => r.result !== 'ok').map((r) => `${r.from} -> ${r.to} ${r.host}: ${r.result} ${r.detail}`), []);
        }
      }
      for (const f of ALL.filter((x) => !lab.fams.includes(x))) assert.equal(res.rows.filter((r) => r.family === f).length, 0, `no ${f} probes in ${mode}`);
    });

    it("the agent and its gobgpd run unprivileged with deploy/daemonset.yaml's capabilities; gobgpd's socket is 0600 in a 0700 directory", function () {
      const ds = YAML.parse(readFileSync(new URL('../../deploy/daemonset.yaml', import.meta.url), 'utf8'));
      const sc = ds.spec.template.spec.containers.find((c: { name: string }) => c.name === 'krouter').securityContext;
      assert.equal(sc.privileged, false);
      const want = containerCapabilities(sc)!;
      const capsOf = (pid: number) => {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        const mask = (name: string) => capabilitiesOfMask(new RegExp(`^${name}:\\s*([0-9a-f]+)$`, 'm').exec(status)![1]!);
        return { effective: mask('CapEff'), bounding: mask('CapBnd'), noNewPrivs: /^NoNewPrivs:\s*1$/m.test(status) };
      };
      for (const node of lab.nodes) {
        const agent = agentPodRecord(lab.spec, node.name);
        assert.ok(agent, `${node.name}: agent pod record`);
        const socket = nodePaths(lab.spec, node.name).gobgpSocket;
        const gobgpd = gobgpdPid(socket);
        assert.ok(gobgpd, `${node.name}: gobgpd running`);
        for (const [what, pid] of [['agent', agent.container.pid], ['gobgpd', gobgpd]] as const) {
          assert.deepEqual(capsOf(pid), { effective: want, bounding: want, noNewPrivs: sc.allowPrivilegeEscalation === false }, `${node.name}: ${what} (PID ${pid})`);
        }
        assert.equal(statSync(path.dirname(socket)).mode & 0o777, 0o700, `${node.name}: ${path.dirname(socket)}`);
        assert.equal(statSync(socket).mode & 0o777, 0o600, `${node.name}: ${socket}`);
      }
    });

    it("each node's gobgp RIB per family holds exactly that family's pod CIDRs and the router's prefix, next hops of that family; both RIBs answer", function () {
      const originated = routerOriginated(lab.spec);
      const router = routerUnderlay(lab.spec);
      for (const node of lab.nodes) {
        for (const f of ALL) {
          // Throws on "address family not supported": both must answer in every mode.
          const rib = gobgpRib(lab.spec, node.name, f);
          if (!lab.fams.includes(f)) {
            assert.deepEqual(rib, [], `${node.name}: ${f} RIB is empty in ${mode}`);
            continue;
          }
          const want = [...lab.nodes.map((n) => n.podCidrs[f]!), originated[f]!].sort();
          assert.deepEqual([...new Set(rib.map((p) => p.prefix))].sort(), want, `${node.name}: ${f} RIB prefixes`);
          for (const p of rib) {
            assert.equal(familyOf(p.nextHop), f, `${node.name}: ${p.prefix} next hop ${p.nextHop} is ${f}`);
            assert.equal(familyOf(p.prefix), f, `${node.name}: ${p.prefix} is in the ${f} RIB`);
          }
          for (const owner of lab.nodes) {
            const best = rib.filter((p) => p.prefix === owner.podCidrs[f] && p.best);
            assert.deepEqual(best.map((p) => p.nextHop), [owner.addresses[f]], `${node.name}: best path of ${owner.name}'s ${f} pod CIDR via ${owner.name}`);
          }
          const ext = rib.filter((p) => p.prefix === originated[f] && p.best);
          assert.deepEqual(ext.map((p) => p.nextHop), [router[f]], `${node.name}: ${originated[f]} via the router`);
        }
      }
    });

    it("BIRD learns every node's pod CIDR per family from that node only, via the node's own address", async function () {
      for (const f of lab.fams) {
        // Sessions are named node_<i>_v4|v6 (test/lab/router/model.ts); exactly one route per node.
        const want = lab.nodes.map((n, i) => `${n.podCidrs[f]} from node_${i + 1}_v${f === 'ipv4' ? 4 : 6} via ${n.addresses[f]}`).sort();
        // `up` waited for the nodes' routes, not for BIRD's sessions: give those the moment they need.
        const got = await until(`BIRD ${f} table`, () => {
          const learned = learnedAtRouter(lab.spec, f).map((r) => `${r.prefix} from ${r.source} via ${r.nextHop}`).sort();
          return learned.length >= want.length ? learned : undefined;
        });
        assert.deepEqual(got, want, `BIRD ${f} routes learned over BGP`);
      }
    });

    it("every node installs the other nodes' pod CIDRs and the router's prefix, never its default route", function () {
      const originated = routerOriginated(lab.spec);
      const router = routerUnderlay(lab.spec);
      for (const node of lab.nodes) {
        for (const f of lab.fams) {
          const routes = nodeKrouterRoutes(node.name, f);
          const want = [
            ...lab.nodes.filter((n) => n !== node).map((n) => `${n.podCidrs[f]} via ${n.addresses[f]}`),
            `${originated[f]} via ${router[f]}`,
          ].sort();
          assert.deepEqual(routes.map((r) => `${r.dst} via ${r.gateway}`).sort(), want, `${node.name}: ${f} krouter routes`);
          // The node's default route is the lab's static one, not BIRD's.
          const defaults = kernelRoutes(nodeNetns(node.name), f).filter((r) => r.dst === 'default');
          assert.equal(defaults.length, 1, `${node.name}: one ${f} default route`);
          assert.notEqual(defaults[0]!.protocol, '201', `${node.name}: the ${f} default route is not krouter's`);
        }
      }
    });

    // Changes the cluster: last.
    it("a node deleted from the API: its pod routes leave every other node's kernel and BIRD", async function () {
      const gone = lab.nodes[2]!;
      const rest = lab.nodes.filter((n) => n !== gone);
      labCli(lab.stateDir, ['kubectl', 'delete', 'node', gone.name]);
      await until(`${gone.name}'s pod CIDRs gone from ${rest.map((n) => n.name).join(', ')} and BIRD`, () => {
        for (const f of lab.fams) {
          if (learnedAtRouter(lab.spec, f).some((r) => r.prefix === gone.podCidrs[f])) return undefined;
          for (const n of rest) if (nodeKrouterRoutes(n.name, f).some((r) => r.dst === gone.podCidrs[f])) return undefined;
        }
        return true;
      });
      // Nothing else was disturbed: the remaining nodes still route to each other.
      for (const n of rest) {
        for (const f of lab.fams) {
          const other = rest.find((x) => x !== n)!;
          assert.ok(nodeKrouterRoutes(n.name, f).some((r) => r.dst === other.podCidrs[f] && r.gateway === other.addresses[f]), `${n.name} still routes ${other.podCidrs[f]}`);
          assert.deepEqual(learnedAtRouter(lab.spec, f).map((r) => r.prefix).sort(), rest.map((x) => x.podCidrs[f]!).sort(), `BIRD ${f}`);
        }
      }
    });
  });
}
