/**
 * Restarting krouter never interrupts BGP or pod routes (DESIGN §1.4), dual
 * stack: two nodes running the built agent (router plugin, graceful restart
 * on) beside the scripted API server (test/helpers/fake-apiserver), all in namespaces on one L2 segment.
 *
 * (a) The agent of node A is killed with SIGKILL and started again: its
 *     gobgpd keeps running, the new agent adopts it (same PID), and node B
 *     never loses A's prefixes, in its RIB or in its kernel.
 * (b) A's gobgpd itself is killed with SIGKILL: A's agent starts a fresh one
 *     flagged as restarting (graceful restart), and meanwhile B keeps A's
 *     routes in its kernel and A keeps B's.
 *
 * Both are checked by sampling continuously during the whole restart and
 * counting samples with a route missing; nothing here is timed.
 */
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureExecutable } from '../../build/pipeline.ts';
import { addAddress, createNetns, inNetns, requireRoot } from '../helpers/netns.ts';
import { startProcess, stopProcess } from '../helpers/processes.ts';
import { isAlive, startAgent, waitForStatus, writeConfig, type AgentProcess } from '../helpers/krouter-process.ts';

type Family = 'ipv4' | 'ipv6';
const FAMILIES: Family[] = ['ipv4', 'ipv6'];
const API = { ipv4: '198.18.110.10', port: 6443 };
const NODES = {
  a: { name: 'rr-a', ipv4: '198.18.110.1', ipv6: 'fd00:110::1', pod: { ipv4: '198.19.110.0/24', ipv6: 'fd00:119:110::/64' } },
  b: { name: 'rr-b', ipv4: '198.18.110.2', ipv6: 'fd00:110::2', pod: { ipv4: '198.19.111.0/24', ipv6: 'fd00:119:111::/64' } },
} as const;
type NodeKey = keyof typeof NODES;

function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'utf8', timeout: 10_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** gobgp lists neighbours in no fixed order. */
const byAddress = (a: unknown[], b: unknown[]) => String(a[0]).localeCompare(String(b[0]));

/** Protobuf fields of a message (varints and length-delimited only, enough for capabilities). */
function protoFields(buf: Buffer): Array<{ field: number; value: number | Buffer }> {
  const out: Array<{ field: number; value: number | Buffer }> = [];
  let i = 0;
  const varint = () => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = buf[i++]!;
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (b < 0x80) return v;
    }
  };
  while (i < buf.length) {
    const key = varint();
    const field = key >> 3;
    if ((key & 7) === 0) out.push({ field, value: varint() });
    else if ((key & 7) === 2) {
      const len = varint();
      out.push({ field, value: buf.subarray(i, i + len) });
      i += len;
    } else throw new Error(`unexpected wire type ${key & 7}`);
  }
  return out;
}

/**
 * The graceful restart capability a peer sent (gobgp's apipb.GracefulRestartCapability,
 * base64 in `gobgp neighbor -j`): restart flags and the per-family forwarding flags.
 */
function decodeGracefulRestart(value: string): { flags: number; tupleFlags: number[] } {
  const fields = protoFields(Buffer.from(value, 'base64'));
  const flags = Number(fields.find((f) => f.field === 1)?.value ?? 0);
  const tupleFlags = fields
    .filter((f) => f.field === 3)
    .map((f) => Number(protoFields(f.value as Buffer).find((t) => t.field === 2)?.value ?? 0));
  return { flags, tupleFlags };
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(200);
  }
}

/**
 * Runs `probe` back to back (every 100 ms) until stopped; each sample
 * records what was missing. A probe that fails to run counts as a sample
 * with everything missing: the check cannot tell, so it does not pass.
 */
function sampler(probe: () => Promise<string[]>) {
  const misses: Array<{ at: string; missing: string[] }> = [];
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      let missing: string[];
      try {
        missing = await probe();
      } catch (e) {
        missing = [`probe failed: ${(e as Error).message}`];
      }
      samples++;
      if (missing.length) misses.push({ at: new Date().toISOString(), missing });
      await sleep(100);
    }
  })();
  return {
    get samples() {
      return samples;
    },
    misses,
    async stop() {
      running = false;
      await loop;
      return { samples, misses };
    },
  };
}

describe('router restarts are hitless (dual stack, dist/krouter, graceful restart)', function () {
  this.timeout(600_000);

  let dir: string;
  let exe: string;
  let nsApi: string;
  const ns = {} as Record<NodeKey, string>;
  const sock = {} as Record<NodeKey, string>;
  const config = {} as Record<NodeKey, string>;
  const agents = {} as Record<NodeKey, AgentProcess>;
  let apiServer: ChildProcess | undefined;
  let apiUrl: string;
  /** Every gobgpd PID seen: an agent killed with SIGKILL leaves its gobgpd running, so it is stopped by PID here. */
  const gobgpds = new Set<number>();

  const gobgp = (node: NodeKey, ...args: string[]) => run('ip', ['netns', 'exec', ns[node], 'gobgp', '--target', `unix://${sock[node]}`, ...args]);

  /** Prefixes of `wanted` missing from a node's global RIB (as the gobgp CLI shows it). */
  async function missingInRib(node: NodeKey, wanted: Record<Family, string>): Promise<string[]> {
    const missing: string[] = [];
    for (const family of FAMILIES) {
      const rib = JSON.parse((await gobgp(node, 'global', 'rib', '-a', family, '-j')) || '{}') as Record<string, Array<{ withdrawal?: boolean }>>;
      const paths = rib[wanted[family]] ?? [];
      if (!paths.some((p) => !p.withdrawal)) missing.push(`${family} ${wanted[family]}`);
    }
    return missing;
  }

  /** Prefixes of `wanted` without a kernel route in the node's namespace. */
  async function missingInKernel(node: NodeKey, wanted: Record<Family, string>): Promise<string[]> {
    const missing: string[] = [];
    for (const family of FAMILIES) {
      const out = await run('ip', ['-n', ns[node], family === 'ipv4' ? '-4' : '-6', 'route', 'show', 'exact', wanted[family]]);
      if (!out.trim()) missing.push(`${family} ${wanted[family]}`);
    }
    return missing;
  }

  function gobgpdPid(node: NodeKey): number | undefined {
    try {
      const pid = Number(fs.readFileSync(`${sock[node]}.pid`, 'utf8').split('\n')[0]);
      if (pid > 0) gobgpds.add(pid);
      return pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** B's sessions to A (per family), as B's gobgpd reports them. */
  async function sessionsOnB(): Promise<Array<{ address: string; state: string; uptime: unknown; remoteCap: Array<{ type_url?: string; value?: string }> }>> {
    const list = JSON.parse(await gobgp('b', 'neighbor', '-j')) as Array<Record<string, any>>;
    return list.map((n) => ({
      address: n.state?.neighbor_address ?? n.conf?.neighbor_address,
      state: String(n.state?.session_state ?? ''),
      uptime: n.timers?.state?.uptime,
      remoteCap: (n.state?.remote_cap ?? []) as Array<{ type_url?: string; value?: string }>,
    }));
  }

  async function startNodeAgent(node: NodeKey): Promise<AgentProcess> {
    const agent = await startAgent('ip', ['netns', 'exec', ns[node], exe, 'run', '--config', config[node]]);
    agents[node] = agent;
    await waitForStatus(`${agent.healthUrl}/healthz`, { netns: ns[node], timeoutMs: 120_000 });
    return agent;
  }

  async function converged(): Promise<void> {
    await waitFor('both nodes have each other in RIB and kernel, sessions established', async () => {
      const missing = [
        ...(await missingInRib('b', NODES.a.pod)),
        ...(await missingInRib('a', NODES.b.pod)),
        ...(await missingInKernel('b', NODES.a.pod)),
        ...(await missingInKernel('a', NODES.b.pod)),
      ];
      if (missing.length) throw new Error(`missing: ${missing.join(', ')}`);
      const sessions = await sessionsOnB();
      if (sessions.length !== 2 || sessions.some((s) => s.state !== '6' && s.state.toUpperCase() !== 'ESTABLISHED')) throw new Error(`B sessions: ${JSON.stringify(sessions)}`);
      return true;
    });
  }

  async function apiCall(method: string, urlPath: string, body: unknown, contentType = 'application/json'): Promise<void> {
    await run('ip', [
      'netns', 'exec', nsApi, 'curl', '-sS', '--fail-with-body', '-X', method, '-H', `Content-Type: ${contentType}`,
      '--data-binary', '@-', `${apiUrl}${urlPath}`,
    ], JSON.stringify(body));
  }

  before(async function () {
    requireRoot();
    exe = await ensureExecutable();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krouter-rr-'));

    // One L2 segment: a bridge in the API server's namespace, a veth to each node.
    nsApi = createNetns('rr-api');
    inNetns(nsApi, 'ip', ['link', 'add', 'br-rr', 'type', 'bridge']);
    inNetns(nsApi, 'ip', ['link', 'set', 'br-rr', 'up']);
    addAddress(nsApi, 'br-rr', `${API.ipv4}/24`);
    for (const node of ['a', 'b'] as const) {
      const n = NODES[node];
      ns[node] = createNetns(`rr-${node}`);
      const outside = `rr-${node}-br`;
      inNetns(nsApi, 'ip', ['link', 'add', outside, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns[node]]);
      inNetns(nsApi, 'ip', ['link', 'set', outside, 'master', 'br-rr', 'up']);
      inNetns(ns[node], 'ip', ['link', 'set', 'eth0', 'up']);
      addAddress(ns[node], 'eth0', `${n.ipv4}/24`);
      addAddress(ns[node], 'eth0', `${n.ipv6}/64`);
    }

    // The scripted API server, inside its namespace (this process cannot reach it: every call goes through curl there).
    apiServer = startProcess('ip', [
      'netns', 'exec', nsApi, process.execPath, '--import', 'tsx', 'test/helpers/fake-apiserver/main.ts', '--listen', `${API.ipv4}:${API.port}`,
    ]);
    apiUrl = await new Promise<string>((resolve, reject) => {
      let out = '';
      apiServer!.stdout!.setEncoding('utf8');
      apiServer!.stdout!.on('data', (d: string) => {
        out += d;
        const m = /listening (\S+)/.exec(out);
        if (m) resolve(m[1]!.replace(/\/+$/, ''));
      });
      apiServer!.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      apiServer!.once('exit', (code) => reject(new Error(`API server exited (${code}): ${out}`)));
    });

    for (const node of ['a', 'b'] as const) {
      const n = NODES[node];
      await apiCall('POST', '/api/v1/nodes', {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: n.name },
        spec: { podCIDR: n.pod.ipv4, podCIDRs: [n.pod.ipv4, n.pod.ipv6] },
      });
      await apiCall(
        'PATCH',
        `/api/v1/nodes/${n.name}/status`,
        { status: { addresses: [{ type: 'InternalIP', address: n.ipv4 }, { type: 'InternalIP', address: n.ipv6 }, { type: 'Hostname', address: n.name }] } },
        'application/merge-patch+json',
      );
      const nodeDir = path.join(dir, node);
      fs.mkdirSync(nodeDir);
      sock[node] = path.join(nodeDir, 'gobgp.sock');
      config[node] = writeConfig(
        {
          nodeName: n.name,
          families: 'dual',
          kubernetes: { master: apiUrl },
          log: { level: 'debug' },
          metrics: { address: '127.0.0.1', port: 0 },
          health: { address: '127.0.0.1', port: 0 },
          gobgp: { socket: sock[node] },
          plugins: {
            cni: { enabled: false },
            router: {
              enabled: true,
              routerId: n.ipv4,
              gracefulRestart: { enabled: true, restartTime: 120, deferralTime: 360 },
              resyncSeconds: 5,
            },
          },
        },
        nodeDir,
      );
    }
    await Promise.all([startNodeAgent('a'), startNodeAgent('b')]);
    gobgpdPid('a');
    gobgpdPid('b');
    await converged();
  });

  after(async () => {
    for (const agent of Object.values(agents)) await stopProcess(agent.child, 10_000);
    // Anything an agent killed with SIGKILL left behind (an orphaned gobgpd), by PID.
    for (const node of ['a', 'b'] as const) if (sock[node]) gobgpdPid(node);
    for (const pid of gobgpds) {
      if (!isAlive(pid)) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    if (apiServer) await stopProcess(apiServer);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('(a) agent A killed with SIGKILL and restarted: the new agent adopts its gobgpd, B never loses A\'s prefixes', async () => {
    const gobgpdBefore = gobgpdPid('a');
    assert.ok(gobgpdBefore && isAlive(gobgpdBefore), 'A runs a gobgpd named by its pid file');
    // Leftovers of an earlier config in A's gobgpd (paths and a peer the new agent does not want).
    const STRAY = { ipv4: '198.19.112.0/24', ipv6: 'fd00:119:112::/64' };
    await gobgp('a', 'global', 'rib', '-a', 'ipv4', 'add', STRAY.ipv4, 'nexthop', NODES.a.ipv4);
    await gobgp('a', 'global', 'rib', '-a', 'ipv6', 'add', STRAY.ipv6, 'nexthop', NODES.a.ipv6);
    await gobgp('a', 'neighbor', 'add', '198.18.110.99', 'as', '64512');
    await waitFor('B learns the stray paths', async () => (await missingInRib('b', STRAY)).length === 0);
    const sessionsBefore = await sessionsOnB();

    const rib = sampler(() => missingInRib('b', NODES.a.pod));
    const kernel = sampler(() => missingInKernel('b', NODES.a.pod));
    await waitFor('first samples', async () => rib.samples > 3 && kernel.samples > 3);

    const old = agents.a;
    old.child.kill('SIGKILL');
    await old.exited;
    assert.equal(isAlive(gobgpdBefore), true, 'gobgpd outlives its agent killed with SIGKILL');

    const agent = await startNodeAgent('a');
    await waitFor('the new agent adopted gobgpd and synced', async () => {
      if (agent.lines.some((l) => l.includes('running gobgpd adopted')) && agent.lines.some((l) => l.includes('"plugin":"router"'))) return true;
      throw new Error(`agent output so far:\n${agent.output().slice(-6000)}`);
    }, 60_000);
    // Keep sampling over a few of the new agent's resyncs (resyncSeconds: 5).
    const until = rib.samples + 100;
    await waitFor('more samples after the restart', async () => rib.samples >= until && kernel.samples >= until);
    const [r, k] = [await rib.stop(), await kernel.stop()];

    assert.equal(gobgpdPid('a'), gobgpdBefore, 'the pid file still names the adopted gobgpd');
    assert.equal(isAlive(gobgpdBefore), true, 'the adopted gobgpd is still running');
    assert.deepEqual(r.misses, [], `B's RIB lacked A's prefixes in ${r.misses.length} of ${r.samples} samples`);
    assert.deepEqual(k.misses, [], `B's kernel lacked routes to A's pods in ${k.misses.length} of ${k.samples} samples`);
    const sessionsAfter = await sessionsOnB();
    assert.deepEqual(
      sessionsAfter.map((s) => [s.address, s.state, s.uptime]).sort(byAddress),
      sessionsBefore.map((s) => [s.address, s.state, s.uptime]).sort(byAddress),
      'B\'s sessions with A never reset',
    );
    const entries = agent.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const gobgpErrors = entries.filter((e) => e.service === 'gobgp' && (e.level === 'error' || e.level === 'warn'));
    assert.deepEqual(gobgpErrors, [], 'the gobgp service adopted without errors or warnings');
    // What the old gobgpd held was what the new agent wants: nothing re-sent, no peer re-added in gobgpd.
    const adopted = entries.find((e) => e.msg === 'running gobgpd adopted; desired state applied');
    assert.ok(adopted, agent.output());
    assert.equal(gobgpdBefore, adopted.pid);
    assert.ok(!entries.some((e) => e.gobgpd === 'Add a peer configuration' || e.gobgpd === 'Update PeerConfig'), agent.output());
    // The new agent removed what it does not want: B loses the stray paths, A's gobgpd the stray peer.
    await waitFor('stray paths withdrawn from B', async () => (await missingInRib('b', STRAY)).length === 2);
    await waitFor('stray peer removed from A', async () => !(await gobgp('a', 'neighbor')).includes('198.18.110.99'));
    await converged();
  });

  it('(b) A\'s gobgpd killed with SIGKILL: B keeps A\'s routes and A keeps B\'s while it restarts as a graceful restart', async () => {
    const before = gobgpdPid('a');
    assert.ok(before && isAlive(before));
    const ribB = sampler(() => missingInRib('b', NODES.a.pod));
    const kernelB = sampler(() => missingInKernel('b', NODES.a.pod));
    const kernelA = sampler(() => missingInKernel('a', NODES.b.pod));
    await waitFor('first samples', async () => ribB.samples > 3 && kernelB.samples > 3 && kernelA.samples > 3);

    process.kill(before, 'SIGKILL');
    const after = await waitFor('a fresh gobgpd on A', async () => {
      const pid = gobgpdPid('a');
      return pid !== undefined && pid !== before && isAlive(pid) ? pid : undefined;
    });
    assert.notEqual(after, before);
    // Until B's sessions to A are back up and each side has the other's prefixes in RIB and kernel again.
    await converged();
    const until = kernelB.samples + 30;
    await waitFor('more samples after convergence', async () => kernelB.samples >= until);
    const [rb, kb, ka] = [await ribB.stop(), await kernelB.stop(), await kernelA.stop()];

    assert.deepEqual(kb.misses, [], `B's kernel lacked routes to A's pods in ${kb.misses.length} of ${kb.samples} samples`);
    assert.deepEqual(ka.misses, [], `A's kernel lacked routes to B's pods in ${ka.misses.length} of ${ka.samples} samples`);
    assert.deepEqual(rb.misses, [], `B's RIB lacked A's prefixes (kept stale by graceful restart) in ${rb.misses.length} of ${rb.samples} samples`);

    // A's new sessions announced a restart with forwarding state kept (RFC 4724 R and F bits).
    const sessions = await sessionsOnB();
    for (const s of sessions) {
      const cap = s.remoteCap.find((c) => c.type_url?.endsWith('.GracefulRestartCapability'));
      assert.ok(cap?.value, `B received a graceful restart capability from ${s.address}: ${JSON.stringify(s.remoteCap)}`);
      const gr = decodeGracefulRestart(cap.value);
      assert.equal(gr.flags & 0x08, 0x08, `restart state (R) bit from ${s.address}: ${JSON.stringify(gr)}`);
      assert.ok(gr.tupleFlags.length > 0 && gr.tupleFlags.every((f) => (f & 0x80) === 0x80), `forwarding state (F) bit per family from ${s.address}: ${JSON.stringify(gr)}`);
    }
    assert.equal(agents.a.child.exitCode, null, 'A\'s agent kept running');
  });
});
