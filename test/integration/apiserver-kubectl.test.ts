import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startProcess, stopProcess } from '../helpers/processes.ts';
import { RESOURCES, startApiServer, type ApiServer } from '../lab/apiserver/index.ts';

const run = promisify(execFile);
const KUBECTL = '/usr/bin/kubectl';
const def = (plural: string) => RESOURCES.find((r) => r.plural === plural)!;

/** Waits until `text()` satisfies `pred` (the test timeout bounds it). */
async function until(pred: () => boolean): Promise<void> {
  while (!pred()) await new Promise((r) => setTimeout(r, 20));
}

describe('lab apiserver with kubectl', () => {
  let server: ApiServer;
  let dir: string;
  let kubeconfig: string;

  // Async exec: the server runs in this process, a sync exec would block it.
  const kubectl = async (...args: string[]): Promise<string> => {
    const { stdout } = await run(KUBECTL, ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8' });
    return stdout;
  };
  const kubectlFails = async (...args: string[]): Promise<string> => {
    try {
      await kubectl(...args);
    } catch (e) {
      return String((e as { stderr?: string }).stderr);
    }
    assert.fail(`kubectl ${args.join(' ')} should have failed`);
  };

  before(async () => {
    server = await startApiServer({});
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krouter-apiserver-kubectl-'));
    kubeconfig = path.join(dir, 'kubeconfig');
    fs.writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: lab, cluster: {server: "${server.url}"}}]`,
        'users: [{name: lab, user: {}}]',
        'contexts: [{name: lab, context: {cluster: lab, user: lab}}]',
        'current-context: lab',
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates a namespace, a pod and a service from a file', async () => {
    const manifest = path.join(dir, 'objects.yaml');
    fs.writeFileSync(
      manifest,
      `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web}}
spec: {nodeName: node-a, containers: [{name: c, image: x, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}, ports: [{port: 80, protocol: TCP}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
`,
    );
    const out = await kubectl('create', '--validate=false', '-f', manifest);
    assert.match(out, /namespace\/shop created/);
    assert.match(out, /pod\/web-1 created/);
    assert.match(out, /service\/web created/);
    assert.match(out, /networkpolicy.networking.k8s.io\/deny created/);
    assert.equal(server.store.get(def('pods'), 'shop', 'web-1').spec.nodeName, 'node-a');
    assert.deepEqual(server.store.get(def('services'), 'shop', 'web').spec.selector, { app: 'web' });
    assert.equal(server.store.get(def('namespaces'), undefined, 'shop').status.phase, 'Active');
    const again = await kubectlFails('create', '--validate=false', '-f', manifest);
    assert.match(again, /AlreadyExists/);
  });

  it('creates a namespace imperatively (protobuf body) and refuses other protobuf bodies clearly', async () => {
    assert.match(await kubectl('create', 'namespace', 'scratch'), /namespace\/scratch created/);
    assert.deepEqual(server.store.get(def('namespaces'), undefined, 'scratch').metadata.labels, { 'kubernetes.io/metadata.name': 'scratch' });
    assert.match(await kubectlFails('create', 'service', 'clusterip', 'x', '--tcp=80', '-n', 'scratch'), /protobuf bodies are accepted for v1 Namespace only \(got v1\/Service\)/);
    assert.deepEqual(server.store.list(def('services'), 'scratch'), []);
    await kubectl('delete', 'namespace', 'scratch');
  });

  it('gets as JSON and as the default table, with short names and selectors', async () => {
    const json = JSON.parse(await kubectl('get', 'po', '-n', 'shop', '-o', 'json'));
    assert.equal(json.kind, 'List');
    assert.deepEqual(json.items.map((p: { metadata: { name: string } }) => p.metadata.name), ['web-1']);
    const one = JSON.parse(await kubectl('get', 'svc', 'web', '-n', 'shop', '-o', 'json'));
    assert.equal(one.metadata.uid, server.store.get(def('services'), 'shop', 'web').metadata.uid);
    const table = await kubectl('get', 'pods', '-n', 'shop');
    assert.match(table.split('\n')[0]!, /^NAME\s+STATUS\s+IP\s+NODE\s+AGE/);
    assert.match(table, /^web-1\s+Pending\s+<none>\s+node-a\s+\d+s/m);
    const all = await kubectl('get', 'netpol', '-A');
    assert.match(all, /^shop\s+deny\s/m);
    assert.match(await kubectl('get', 'pods', '-A', '-l', 'app=web', '-o', 'name'), /^pod\/web-1$/m);
    assert.equal(await kubectl('get', 'pods', '-A', '-l', 'app!=web', '-o', 'name'), '');
    assert.match(await kubectl('get', 'pods', '-A', '--field-selector', 'spec.nodeName=node-a', '-o', 'name'), /pod\/web-1/);
    assert.match(await kubectlFails('get', 'pods', '-n', 'shop', 'nope'), /NotFound|not found/);
  });

  it('labels and annotates (merge patches)', async () => {
    await kubectl('label', 'pod', 'web-1', '-n', 'shop', 'tier=front');
    await kubectl('annotate', 'svc', 'web', '-n', 'shop', 'kube-router.io/service.dsr=tunnel');
    assert.deepEqual(server.store.get(def('pods'), 'shop', 'web-1').metadata.labels, { app: 'web', tier: 'front' });
    assert.equal(server.store.get(def('services'), 'shop', 'web').metadata.annotations['kube-router.io/service.dsr'], 'tunnel');
    await kubectl('label', 'pod', 'web-1', '-n', 'shop', 'tier-');
    assert.deepEqual(server.store.get(def('pods'), 'shop', 'web-1').metadata.labels, { app: 'web' });
    assert.match(await kubectlFails('label', 'pod', 'web-1', '-n', 'shop', 'app=db'), /already has a value/);
    await kubectl('label', 'node', '--all', 'x=y'); // no nodes: nothing to do, no error
  });

  it('watches with get -w', async () => {
    const child = startProcess(KUBECTL, ['--kubeconfig', kubeconfig, 'get', 'pods', '-n', 'shop', '-w', '-o', 'name']);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await until(() => out.includes('pod/web-1'));
      server.store.create(def('pods'), 'shop', { metadata: { name: 'web-2' } });
      await until(() => out.includes('pod/web-2'));
    } finally {
      await stopProcess(child);
    }
  });

  it('deletes objects, and a namespace with everything in it', async () => {
    assert.match(await kubectl('delete', 'pod', 'web-2', '-n', 'shop'), /pod "web-2" deleted/);
    assert.throws(() => server.store.get(def('pods'), 'shop', 'web-2'), /not found/);
    assert.match(await kubectl('delete', 'ns', 'shop'), /namespace "shop" deleted/);
    assert.deepEqual(server.store.list(def('pods')), []);
    assert.deepEqual(server.store.list(def('services')), []);
    assert.deepEqual(server.store.list(def('networkpolicies')), []);
  });

  it('the standalone entry listens where told and stops on SIGTERM', async () => {
    const child = startProcess(process.execPath, ['--import', 'tsx', 'test/lab/apiserver/main.ts', '--listen', '127.0.0.1:0', '--listen', '[::1]:0']);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await until(() => (out.match(/^listening /gm) ?? []).length === 2);
    const urls = [...out.matchAll(/^listening (\S+)$/gm)].map((m) => m[1]!);
    assert.match(urls[0]!, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(urls[1]!, /^http:\/\/\[::1\]:\d+$/);
    for (const url of urls) {
      const { stdout } = await run(KUBECTL, ['--server', url, 'get', 'ns', 'kube-system', '-o', 'name']);
      assert.equal(stdout.trim(), 'namespace/kube-system');
    }
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});
