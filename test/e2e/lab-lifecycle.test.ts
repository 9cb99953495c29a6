/**
 * The lab's own lifecycle: `up` then `down` leaves no namespace, link or
 * process; a `lab up` killed with SIGKILL at several points is cleaned up by
 * `down`; `lab kubectl` talks to the lab's kube-apiserver.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireRoot } from '../helpers/netns.ts';
import { stopProcess } from '../helpers/processes.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(repoRoot, 'test', 'lab', 'cli.ts');

interface LabRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function lab(stateDir: string, args: string[]): LabRun {
  const r = spawnSync(process.execPath, ['--import', 'tsx', cli, ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, KROUTER_LAB_DIR: stateDir },
    timeout: 170_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function show(r: LabRun): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** Everything of the lab kind on this machine: namespaces, links, processes mentioning the state dir. */
function labFootprint(stateDir: string): { netns: string[]; links: string[]; processes: string[] } {
  const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith('krlab-'));
  const links = (JSON.parse(spawnSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' }).stdout) as Array<{ ifname: string }>)
    .map((l) => l.ifname)
    .filter((n) => n === 'krlab0' || n.startsWith('krl-'));
  const processes: string[] = [];
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    if (Number(pid) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.includes(stateDir)) processes.push(`${pid}: ${cmdline}`);
    } catch {
      /* gone */
    }
  }
  return { netns, links, processes };
}

/** PIDs in lab.json (control plane, kubelets' daemon, router) and of the containers the kubelets recorded (the agents). */
function recordedPids(stateDir: string): number[] {
  const file = path.join(stateDir, 'lab.json');
  if (!existsSync(file)) return [];
  const pids = (JSON.parse(readFileSync(file, 'utf8')) as { processes: Array<{ pid: number }> }).processes.map((p) => p.pid);
  const nodes = path.join(stateDir, 'nodes');
  for (const node of existsSync(nodes) ? readdirSync(nodes) : []) {
    const pods = path.join(nodes, node, 'pods');
    for (const f of existsSync(pods) ? readdirSync(pods).filter((x) => x.endsWith('.json')) : []) {
      const record = JSON.parse(readFileSync(path.join(pods, f), 'utf8')) as { containers?: Record<string, { pid: number }> };
      pids.push(...Object.values(record.containers ?? {}).map((c) => c.pid));
    }
  }
  return pids;
}

/** Running (a zombie waiting for its reaper counts as gone: it holds no resources). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function assertNothingLeft(stateDir: string, pids: number[]): void {
  assert.deepEqual(labFootprint(stateDir), { netns: [], links: [], processes: [] });
  assert.deepEqual(pids.filter(alive), [], 'recorded lab processes still alive');
  assert.equal(existsSync(stateDir), false, `${stateDir} still exists`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('lab lifecycle (e2e)', function () {
  const stateDirs: string[] = [];
  let running: ChildProcess | undefined;

  function newStateDir(): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'krlab-e2e-'));
    stateDirs.push(dir);
    return dir;
  }

  /** `lab up` of 2 nodes, CNI only, in the background; kept in `running` so `after` stops it if a test does not. */
  function startUp(stateDir: string): ChildProcess {
    running = spawn(process.execPath, ['--import', 'tsx', cli, 'up', '--nodes', '2', '--router', 'none', '--plugins', 'cni'], {
      cwd: repoRoot,
      env: { ...process.env, KROUTER_LAB_DIR: stateDir },
      stdio: 'ignore',
    });
    return running;
  }

  before(function () {
    requireRoot();
    // A lab left by a killed runner is removed by any `down`; a living one stays and fails the check below.
    lab(path.join(os.tmpdir(), 'krlab-e2e-none'), ['down']);
    const before = labFootprint('/nonexistent-state-dir');
    assert.deepEqual(before.netns.concat(before.links), [], 'a lab is already up on this machine; run `npm run lab -- down` first');
  });

  after(async function () {
    if (running) await stopProcess(running, 1000);
    for (const dir of stateDirs) {
      lab(dir, ['down']);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // --plugins cni: the lifecycle does not depend on BGP, and up would wait for pod routes to converge.
  it('up (2 nodes, no router) then down leaves no namespace, link or process; kubectl lists the nodes', function () {
    const stateDir = newStateDir();
    const upRun = lab(stateDir, ['up', '--nodes', '2', '--router', 'none', '--plugins', 'cni']);
    assert.equal(upRun.code, 0, show(upRun));
    assert.match(upRun.stdout, /\[8\/8\]/);
    assert.match(upRun.stdout, /npm run lab -- down/);

    const fp = labFootprint(stateDir);
    assert.deepEqual(fp.netns.sort(), ['krlab-node-1', 'krlab-node-2', 'krlab-router']);
    assert.ok(fp.links.includes('krlab0'), `links: ${fp.links.join(', ')}`);
    const pids = recordedPids(stateDir);
    assert.equal(pids.length, 8, 'etcd, kube-apiserver, kube-controller-manager, kube-scheduler, coredns, the kubelets, two agents');
    assert.deepEqual(pids.filter((p) => !alive(p)), []);

    const nodes = lab(stateDir, ['kubectl', 'get', 'nodes', '-o', 'name']);
    assert.equal(nodes.code, 0, show(nodes));
    assert.deepEqual(nodes.stdout.trim().split('\n').sort(), ['node/node-1', 'node/node-2']);

    // create -f with kubectl's own validation against the API server's OpenAPI schema.
    const manifest = path.join(stateDir, 'ns.yaml');
    writeFileSync(manifest, 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: lifecycle-check\n');
    const created = lab(stateDir, ['kubectl', 'create', '-f', manifest]);
    assert.equal(created.code, 0, show(created));
    const namespaces = lab(stateDir, ['kubectl', 'get', 'namespaces', '-o', 'name']);
    assert.match(namespaces.stdout, /^namespace\/lifecycle-check$/m, show(namespaces));

    const again = lab(stateDir, ['up', '--nodes', '2', '--router', 'none', '--plugins', 'cni']);
    assert.notEqual(again.code, 0, 'a second up must refuse');
    assert.match(again.stderr, /already up.*down/);

    const downRun = lab(stateDir, ['down']);
    assert.equal(downRun.code, 0, show(downRun));
    assertNothingLeft(stateDir, pids);

    const downAgain = lab(stateDir, ['down']);
    assert.equal(downAgain.code, 0, show(downAgain));
    assert.match(downAgain.stdout, /nothing to do/);
  });

  // Kill points: while making namespaces, right after the API server starts, right after the kubelets start.
  const killPoints: Array<{ name: string; reached: (state: { namespaces: string[]; processes: Array<{ name: string }> }) => boolean }> = [
    { name: 'while making namespaces', reached: (s) => s.namespaces.length >= 2 },
    { name: 'after the API server started', reached: (s) => s.processes.some((p) => p.name === 'kube-apiserver') },
    { name: 'after the kubelets started', reached: (s) => s.processes.some((p) => p.name === 'daemon') },
  ];
  for (const point of killPoints) {
    it(`up killed with SIGKILL ${point.name}, then down leaves nothing`, async function () {
      const stateDir = newStateDir();
      const child = startUp(stateDir);
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      let reached = false;
      while (child.exitCode === null && child.signalCode === null) {
        try {
          const state = JSON.parse(readFileSync(path.join(stateDir, 'lab.json'), 'utf8'));
          if (point.reached(state)) {
            reached = true;
            break;
          }
        } catch {
          /* not written yet, or being replaced */
        }
        await sleep(5);
      }
      child.kill('SIGKILL');
      await exited;
      running = undefined;
      assert.ok(reached, `up ended before the kill point "${point.name}"`);

      // Processes `up` started may have been made after the last read: take the final record.
      const pids = recordedPids(stateDir);
      const downRun = lab(stateDir, ['down']);
      assert.equal(downRun.code, 0, show(downRun));
      assertNothingLeft(stateDir, pids);
    });
  }

  it('a lab whose runner was killed with it is removed by the next up (another state dir); a living one is refused', async function () {
    const first = newStateDir();
    const upFirst = lab(first, ['up', '--nodes', '2', '--router', 'none', '--plugins', 'cni']);
    assert.equal(upFirst.code, 0, show(upFirst));

    const second = newStateDir();
    const refused = lab(second, ['up', '--nodes', '2', '--router', 'none', '--plugins', 'cni']);
    assert.notEqual(refused.code, 0, 'up must refuse while another lab runs');
    assert.ok(refused.stderr.includes(`KROUTER_LAB_DIR=${first} npm run lab -- down`), show(refused));
    assert.ok(existsSync(path.join(first, 'lab.json')), 'the living lab was left alone');

    // What a killed CI job or closed session leaves: every process gone at once, namespaces, links and state kept.
    const netnsPids = labFootprint(first).netns.flatMap((ns) =>
      spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split(/\s+/).filter(Boolean).map(Number),
    );
    const pids = [...new Set([...recordedPids(first), ...netnsPids])];
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    while (pids.some(alive)) await sleep(20);
    assert.notDeepEqual(labFootprint(first).netns, [], 'the dead lab keeps its namespaces');

    const upSecond = lab(second, ['up', '--nodes', '2', '--router', 'none', '--plugins', 'cni']);
    assert.equal(upSecond.code, 0, show(upSecond));
    assert.match(upSecond.stdout, /removing a lab nothing runs of any more/);
    assert.equal(existsSync(first), false, `${first} (the dead lab's state) still exists`);
    const pidsSecond = recordedPids(second);
    const downRun = lab(second, ['down']);
    assert.equal(downRun.code, 0, show(downRun));
    assertNothingLeft(second, pidsSecond);
  });

  it('down while an up is still running stops it first and leaves nothing', async function () {
    const stateDir = newStateDir();
    const child = startUp(stateDir);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    while (child.exitCode === null && !existsSync(path.join(stateDir, 'lab.json'))) await sleep(5);
    const downRun = lab(stateDir, ['down']);
    await exited;
    running = undefined;
    assert.equal(downRun.code, 0, show(downRun));
    assert.notEqual(child.exitCode, 0, 'up was stopped, not finished');
    assertNothingLeft(stateDir, []);
  });
});
