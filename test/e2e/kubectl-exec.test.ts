/**
 * `kubectl exec` and the agnhost image in the lab, with the real kubectl
 * through the real API server to the lab kubelet (dual-stack, 2 nodes):
 *
 * - exec reports the command's exit code, keeps stdout and stderr apart,
 *   passes stdin through to its end, and runs in the pod's network
 *   namespace (the pod's addresses; a host-network pod's: the node's);
 * - agnhost pods run one subcommand per container: serve-hostname over TCP
 *   and UDP, netexec, porter; `/agnhost connect` from another node's pod
 *   succeeds to served ports and fails with REFUSED to unserved ones, over
 *   TCP and UDP in both families, TIMEOUT from a server that does not
 *   answer; netexec's /hostname and /dial answer;
 * - readiness probes (httpGet, tcpSocket at the pod's address, exec in the
 *   container) decide the containers' readiness;
 * - `kubectl logs` reads a container's output;
 * - the kubelet API refuses clients that are not the API server.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { labClient } from '../lab/api.ts';
import { nodeUnderlayByName } from '../lab/config.ts';
import { controlPlanePaths } from '../lab/k8s/control-plane.ts';
import { ADMIN, pkiFiles } from '../lab/k8s/pki.ts';
import { R, type KubeClient } from '../lab/kube.ts';
import { kubectlCommand } from '../lab/kubectl.ts';
import { KUBELET_PORT } from '../lab/kubelet/node-status.ts';
import { loadLabState } from '../lab/state.ts';
import { labForSuite, until } from '../lab/testing.ts';

const NS = 'exec-e2e';
const AGNHOST = 'registry.k8s.io/e2e-test-images/agnhost:2.56';
/** What the server pod serves: serve-hostname TCP and UDP, netexec HTTP and UDP, porter HTTP and UDP, test-webserver. */
const SERVED = [[80, 'tcp'], [81, 'udp'], [8080, 'tcp'], [8081, 'udp'], [9001, 'tcp'], [9002, 'udp'], [8090, 'tcp']] as const;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

describe('lab: kubectl exec and agnhost (dual)', function () {
  this.timeout(600_000);
  const lab = labForSuite('krlab-exec-', ['--family', 'dual', '--nodes', '2', '--router', 'none']);
  let client: KubeClient;
  const ips: Record<string, { ipv4: string; ipv6: string }> = {};

  /** The real kubectl, as the lab's admin: exit status and both streams. */
  const kubectl = (args: string[], input?: string): Run => {
    const { argv, env } = kubectlCommand(loadLabState(lab.stateDir)!, args);
    const r = spawnSync(argv[0]!, argv.slice(1), { env, input, encoding: 'utf8', timeout: 120_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const exec = (pod: string, command: string[], opts: { input?: string; container?: string } = {}) =>
    kubectl(['-n', NS, 'exec', ...(opts.input !== undefined ? ['-i'] : []), pod, ...(opts.container ? ['-c', opts.container] : []), '--', ...command], opts.input);

  before(async function () {
    client = labClient(lab.spec);
    const [node1, node2] = lab.spec.nodes;
    await client.create(R.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    const agnhost = (name: string, args: string[], env?: Array<{ name: string; value: string }>, readinessProbe?: Record<string, unknown>) => ({
      name,
      image: AGNHOST,
      args,
      ...(env ? { env } : {}),
      ...(readinessProbe ? { readinessProbe } : {}),
    });
    const pods = [
      {
        name: 'server',
        nodeName: node1,
        containers: [
          // One container per port and protocol, as the NetworkPolicy tests build their pods.
          agnhost('serve-80-tcp', ['serve-hostname', '--tcp', '--http=false', '--port', '80']),
          agnhost('serve-81-udp', ['serve-hostname', '--udp', '--http=false', '--port', '81']),
          // Readiness probes of each kind: HTTP and TCP at the pod's address (from the node), exec in the container.
          agnhost('netexec', ['netexec', '--http-port=8080', '--udp-port=8081'], undefined, { httpGet: { path: '/hostName', port: 8080 }, periodSeconds: 3 }),
          agnhost('porter', ['porter'], [
            { name: 'SERVE_PORT_9001', value: 'foo' },
            { name: 'SERVE_UDP_PORT_9002', value: 'bar' },
          ], { tcpSocket: { port: 9001 } }),
          agnhost('unready', ['pause'], undefined, { exec: { command: ['/bin/false'] } }),
          agnhost('webserver', ['test-webserver', '--port=8090']),
        ],
      },
      { name: 'client', nodeName: node2, containers: [agnhost('pause', ['pause'])] },
      // A host-network pod, as upstream's "hostexec" pods: exec runs in the node's namespace.
      { name: 'hostexec', nodeName: node2, hostNetwork: true, containers: [agnhost('pause', ['pause'])] },
    ];
    for (const p of pods) {
      await client.create(R.pods, { apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name, namespace: NS }, spec: { nodeName: p.nodeName, hostNetwork: p.hostNetwork === true, containers: p.containers } } as never);
    }
    for (const p of pods) {
      ips[p.name] = await until(`pod ${p.name} running with both addresses`, async () => {
        const pod = await client.get(R.pods, NS, p.name);
        const all = (pod.status?.podIPs ?? []).map((x: { ip: string }) => x.ip);
        const ipv4 = all.find((a: string) => !a.includes(':'));
        const ipv6 = all.find((a: string) => a.includes(':'));
        return pod.status?.phase === 'Running' && ipv4 && ipv6 ? { ipv4, ipv6 } : undefined;
      });
    }
    // Running is reported once the containers are started; wait until each has bound its port.
    for (const [port, protocol] of SERVED) {
      await until(`server listening on ${protocol}/${port}`, () => (exec('client', ['/agnhost', 'connect', `${ips.server!.ipv4}:${port}`, '--timeout=2s', `--protocol=${protocol}`]).status === 0 ? true : undefined));
    }
  });
  after(async () => client?.close());

  describe('kubectl exec', () => {
    it('reports the exit code and keeps stdout and stderr apart', () => {
      const r = exec('client', ['sh', '-c', 'echo hi; echo oops >&2; exit 3']);
      assert.equal(r.status, 3, `kubectl exit status (stderr: ${r.stderr})`);
      assert.equal(r.stdout, 'hi\n');
      assert.match(r.stderr, /^oops$/m);
      assert.doesNotMatch(r.stdout, /oops/);
      const ok = exec('client', ['true']);
      assert.equal(ok.status, 0, ok.stderr);
    });

    it('passes stdin through to its end (cat sees EOF)', () => {
      const r = exec('client', ['sh', '-c', 'cat; echo done'], { input: 'x\ny\n' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'x\ny\ndone\n');
    });

    it("runs in the pod's network namespace, with the container's environment", () => {
      const r = exec('client', ['sh', '-c', 'ip -o addr show dev eth0; echo "HOSTNAME=$HOSTNAME"']);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(r.stdout.includes(` ${ips.client!.ipv4}/`), r.stdout);
      assert.ok(r.stdout.includes(` ${ips.client!.ipv6}/`), r.stdout);
      assert.match(r.stdout, /^HOSTNAME=client$/m);
    });

    it("runs a host-network pod's command in its node's namespace", () => {
      const node = nodeUnderlayByName(lab.spec, lab.spec.nodes[1]!);
      const r = exec('hostexec', ['ip', '-o', 'addr', 'show', 'dev', 'eth0']);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(r.stdout.includes(` ${node.ipv4}/`) && r.stdout.includes(` ${node.ipv6}/`), r.stdout);
    });

    it('kubectl logs shows a container\'s output', () => {
      const r = kubectl(['-n', NS, 'logs', 'server', '-c', 'serve-80-tcp']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^Serving on port 80\.$/m);
      const tail = kubectl(['-n', NS, 'logs', 'server', '-c', 'serve-81-udp', '--tail=1']);
      assert.equal(tail.stdout, 'Serving on port 81.\n', tail.stderr);
    });

    it('execs into the named container of a pod with several, and refuses an unknown one', () => {
      const r = exec('server', ['sh', '-c', 'echo in-porter'], { container: 'porter' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'in-porter\n');
      const bad = exec('server', ['true'], { container: 'nope' });
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /container nope is not valid|not found|nope/);
    });
  });

  describe('agnhost', () => {
    const target = (fam: 'ipv4' | 'ipv6', port: number) => (fam === 'ipv6' ? `[${ips.server!.ipv6}]:${port}` : `${ips.server!.ipv4}:${port}`);
    for (const fam of ['ipv4', 'ipv6'] as const) {
      it(`connect to served ports succeeds and to unserved ones is REFUSED (TCP and UDP, ${fam}, across nodes)`, () => {
        const connect = (port: number, protocol: string) => exec('client', ['/agnhost', 'connect', target(fam, port), '--timeout=5s', `--protocol=${protocol}`]);
        for (const [port, protocol] of SERVED) {
          const r = connect(port, protocol);
          assert.equal(r.status, 0, `${protocol}/${port}: ${r.stderr}`);
        }
        for (const [port, protocol] of [[82, 'tcp'], [82, 'udp']] as const) {
          const r = connect(port, protocol);
          assert.equal(r.status, 1, `${protocol}/${port} is not served`);
          assert.match(r.stderr, /^REFUSED/m);
        }
      });

      it(`netexec answers /hostname and /dial, porter its values, test-webserver / (${fam})`, () => {
        const url = (port: number, p: string) => `http://${target(fam, port)}${p}`;
        const hostname = exec('client', ['curl', '-gsS', '--max-time', '10', url(8080, '/hostname')]);
        assert.equal(hostname.stdout, 'server', hostname.stderr);
        // /dial from the server pod to its own netexec ports: the request goes out of netexec and comes back.
        const self = fam === 'ipv6' ? ips.server!.ipv6 : ips.server!.ipv4;
        const dialUdp = exec('client', ['curl', '-gsS', '--max-time', '20', url(8080, `/dial?request=hostname&protocol=udp&host=${self}&port=8081&tries=2`)]);
        assert.deepEqual(JSON.parse(dialUdp.stdout), { responses: ['server', 'server'] }, dialUdp.stderr);
        const dialHttp = exec('client', ['curl', '-gsS', '--max-time', '20', url(8080, `/dial?request=hostName&protocol=http&host=${self}&port=8080&tries=1`)]);
        assert.deepEqual(JSON.parse(dialHttp.stdout), { responses: ['server'] }, dialHttp.stderr);
        const porter = exec('client', ['curl', '-gsS', '--max-time', '10', url(9001, '/')]);
        assert.equal(porter.stdout, 'foo', porter.stderr);
        // As the dual-stack tests check a test-webserver: curl's exit status only.
        const web = exec('client', ['/bin/sh', '-c', `curl -gf --connect-timeout 10 ${url(8090, '/')}`]);
        assert.equal(web.status, 0, web.stderr);
        const clientip = exec('client', ['curl', '-gsS', '--max-time', '10', url(8080, '/clientip')]);
        const own = fam === 'ipv6' ? `[${ips.client!.ipv6}]:` : `${ips.client!.ipv4}:`;
        assert.ok(clientip.stdout.startsWith(own), `clientip ${clientip.stdout} is the client pod's address`);
      });
    }

    it('connect times out (TIMEOUT) when a UDP server does not answer the datagram', () => {
      // netexec's UDP port ignores requests it does not know.
      const r = exec('client', ['/agnhost', 'connect', target('ipv4', 8081), '--timeout=1s', '--protocol=udp', '--udp-data=nonsense']);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /^TIMEOUT/m);
    });

    it('/agnhost runs from a shell in the pod too (the e2e tests wrap it in sh -c)', () => {
      const r = exec('client', ['sh', '-c', `/agnhost connect ${target('ipv4', 80)} --timeout=5s && echo connected`]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'connected\n');
    });
  });

  describe('readiness probes', () => {
    it("probe the pod's address from its node (httpGet, tcpSocket) and run exec probes in the container", async () => {
      const ready = await until('netexec and porter ready', async () => {
        const pod = await client.get(R.pods, NS, 'server');
        const byName = Object.fromEntries((pod.status?.containerStatuses ?? []).map((c: { name: string; ready: boolean }) => [c.name, c.ready]));
        return byName.netexec && byName.porter ? { byName, pod } : undefined;
      });
      // Probed in the same round as the two above: /bin/false keeps its container, and so the pod, not ready.
      assert.equal(ready.byName.unready, false);
      assert.equal(ready.pod.status.conditions.find((c: { type: string }) => c.type === 'Ready')?.status, 'False');
    });
  });

  describe('the kubelet API', () => {
    it('refuses a client certificate of the lab CA that is not the API server', async () => {
      const f = pkiFiles(controlPlanePaths(lab.stateDir).pki);
      const host = nodeUnderlayByName(lab.spec, lab.spec.nodes[0]!).ipv4!;
      // From the root namespace, as the API server dials it.
      const status = await new Promise<number>((resolve, reject) => {
        const req = https.request(
          { host, port: KUBELET_PORT, path: `/exec/${NS}/client/pause?command=true&output=1`, method: 'POST', ca: readFileSync(f.caCert), cert: readFileSync(f.cert(ADMIN)), key: readFileSync(f.key(ADMIN)), servername: undefined, headers: { Connection: 'Upgrade', Upgrade: 'websocket' } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      });
      assert.equal(status, 403);
    });
  });
});
