/**
 * BGP passwords and gobgpd's API socket, with `krouter run` (the single
 * executable) and its gobgpd in a namespace, peering with BIRD over MD5:
 * - the sessions come up with the password (so it really reached gobgpd),
 *   yet no log line (debug level, gobgpd's own lines included), no /status,
 *   no /metrics, no `validate-config` output and no file beside the socket
 *   holds the password, plain or base64;
 * - the socket is 0600 in a 0700 directory the agent tightened, and a
 *   process of another user cannot talk to gobgpd through it.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ensureExecutable } from '../../build/pipeline.ts';
import { startCluster, underlay, waitFor, type Cluster } from '../helpers/bgp-peers.ts';
import { httpGet } from '../helpers/krouter-process.ts';
import { requireRoot } from '../helpers/netns.ts';

const PASSWORD = 'Kr0uter-S3cret-9f2c7e';
/** A second password, only in a kube-router.io/peers annotation (for a peer nobody answers as). */
const ANNOTATION_PASSWORD = 'Annot-S3cret-41d8b0';
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** Every form in which a password could show. */
const FORMS = [PASSWORD, b64(PASSWORD), ANNOTATION_PASSWORD, b64(ANNOTATION_PASSWORD)];

function leaks(where: string, text: string): string[] {
  return FORMS.filter((f) => text.includes(f)).map((f) => `${where} contains ${JSON.stringify(f)}`);
}

describe('BGP passwords stay secret; gobgpd socket permissions (dual, BIRD, MD5)', function () {
  this.timeout(300_000);
  let binary: string;
  let c: Cluster;

  before(async function () {
    this.timeout(600_000);
    requireRoot();
    binary = await ensureExecutable();
    c = await startCluster(
      {
        tag: 'sec',
        mode: 'dual',
        nodes: 1,
        router: 'bird',
        password: PASSWORD,
        logLevel: 'debug',
        annotations: () => ({
          'kube-router.io/peers': `- remoteip: ${underlay(9).ipv4}\n  remoteasn: 64599\n  password: ${b64(ANNOTATION_PASSWORD)}\n`,
        }),
      },
      { command: binary, args: [] },
    );
  });
  after(async () => {
    await c?.stop();
  });

  it('the MD5 sessions with BIRD establish (the password reached gobgpd)', async () => {
    await waitFor('both BIRD sessions established', async () => ((await c.router!.established()).length === 2 ? true : undefined), 90_000, 250);
    // The annotation's peer is configured too (it never answers).
    const node = c.nodes[0]!;
    await waitFor('annotation peer in /status', async () => {
      const status = await httpGet(`${node.agent.healthUrl}/status`, node.ns);
      return status.body.includes(underlay(9).ipv4) ? true : undefined;
    }, 60_000);
  });

  it('no log line, /status, /metrics, `krouter status`, `validate-config` output or file beside the socket holds a password', async () => {
    const node = c.nodes[0]!;
    const status = await httpGet(`${node.agent.healthUrl}/status`, node.ns);
    assert.equal(status.status, 200);
    const metrics = await httpGet(`${node.agent.metricsUrl}/metrics`, node.ns);
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /bgp_peer_state/, 'peers are in the metrics');
    const port = new URL(node.agent.healthUrl).port;
    const cliStatus = execFileSync('ip', ['netns', 'exec', node.ns, binary, 'status', '--json', '--port', port], { encoding: 'utf8' });
    const config = path.join(path.dirname(node.socket), 'config.yaml');
    const validate = spawnSync(binary, ['validate-config', '--config', config, `--peer-router-ips=${underlay(8).ipv4}`, '--peer-router-asns=64598', `--peer-router-passwords=${b64(PASSWORD)}`], { encoding: 'utf8' });
    assert.equal(validate.status, 0, validate.stderr);
    // A bad value next to the password: the error names the key, not the password.
    const invalid = spawnSync(binary, ['validate-config', '--config', config, `--peer-router-ips=${underlay(8).ipv4}`, '--peer-router-asns=x', `--peer-router-passwords=${b64(PASSWORD)}`], { encoding: 'utf8' });
    assert.equal(invalid.status, 2, invalid.stderr);
    assert.match(invalid.stderr, /--peer-router-asns/);

    const dir = path.dirname(node.socket);
    const files = readdirSync(dir).filter((f) => f.startsWith('gobgp.sock') && statSync(path.join(dir, f)).isFile());
    assert.ok(files.includes('gobgp.sock.state.json') && files.includes('gobgp.sock.log'), `files beside the socket: ${files.join(', ')}`);
    const logs = node.agent.lines.join('\n');
    assert.ok(node.agent.lines.some((l) => l.includes('"gobgpd"')), "gobgpd's own log lines pass through the agent's log");
    assert.deepEqual(
      [
        ...leaks('the agent log', logs),
        ...leaks('/status', status.body),
        ...leaks('/metrics', metrics.body),
        ...leaks('krouter status', cliStatus),
        ...leaks('validate-config output', validate.stdout + validate.stderr + invalid.stdout + invalid.stderr),
        ...files.flatMap((f) => leaks(f, readFileSync(path.join(dir, f), 'utf8'))),
      ],
      [],
    );
  });

  it("gobgpd's socket is 0600 in a 0700 directory; another user cannot use it", async () => {
    const node = c.nodes[0]!;
    assert.equal(statSync(node.socket).mode & 0o777, 0o600);
    assert.equal(statSync(path.dirname(node.socket)).mode & 0o777, 0o700);
    // root can; uid 65534 (also with the socket opened up) cannot get past the directory.
    const cli = (prefix: string[]) =>
      spawnSync('ip', ['netns', 'exec', node.ns, ...prefix, 'gobgp', '--target', `unix://${node.socket}`, 'global'], { encoding: 'utf8' });
    const asRoot = cli([]);
    assert.equal(asRoot.status, 0, asRoot.stderr);
    // connect(2) on the socket as uid 65534: prints "connected" or the error code.
    const connectAs = (prefix: string[]) =>
      spawnSync(
        'ip',
        ['netns', 'exec', node.ns, ...prefix, process.execPath, '-e', `require('net').connect(${JSON.stringify(node.socket)}).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(1); })`],
        { encoding: 'utf8' },
      ).stdout.trim();
    const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'];
    assert.equal(connectAs([]), 'connected', 'root can');
    assert.equal(connectAs(nobody), 'EACCES');
    assert.notEqual(cli(nobody).status, 0, "gobgp's CLI as uid 65534 fails");
    chmodSync(node.socket, 0o666);
    try {
      assert.equal(connectAs(nobody), 'EACCES', 'the 0700 directory alone keeps others out');
    } finally {
      chmodSync(node.socket, 0o600);
    }
  });
});

describe('gobgpd socket directory of another user (real agent)', function () {
  this.timeout(300_000);

  it('refuses to start BGP, naming the directory and the reason', async function () {
    this.timeout(600_000);
    requireRoot();
    const binary = await ensureExecutable();
    let c: Cluster | undefined;
    try {
      c = await startCluster({ tag: 'secd', mode: 'ipv4', nodes: 1, router: 'none' }, { command: binary, args: [] });
      // The agent is up; a second agent whose socket directory belongs to uid 65534 must not start gobgpd there.
      const node = c.nodes[0]!;
      const dir = path.join(path.dirname(node.socket), 'other');
      execFileSync('install', ['-d', '-o', '65534', '-g', '65534', '-m', '0755', dir]);
      const config = JSON.parse(readFileSync(path.join(path.dirname(node.socket), 'config.yaml'), 'utf8'));
      config.gobgp.socket = path.join(dir, 'gobgp.sock');
      config.metrics.port = 0;
      config.health.port = 0;
      const file = path.join(path.dirname(node.socket), 'other.yaml');
      execFileSync('sh', ['-c', `cat > ${file}`], { input: JSON.stringify(config) });
      const run = spawnSync('ip', ['netns', 'exec', node.ns, 'timeout', '-s', 'TERM', '120', binary, 'run', '--config', file], { encoding: 'utf8' });
      assert.notEqual(run.status, 0);
      assert.notEqual(run.status, 124, 'the agent stopped by itself');
      assert.match(run.stdout + run.stderr, new RegExp(`gobgp socket directory ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: is owned by uid 65534`));
      assert.equal(statSync(dir).mode & 0o777, 0o755, 'left as it was');
      assert.deepEqual(readdirSync(dir), [], 'no socket made there');
    } finally {
      await c?.stop();
    }
  });
});
