/**
 * The kubeconfig forms kube-router's DaemonSets use: a kubeconfig whose user
 * has client-go's `tokenFile` (the service-account token), a kubeconfig with client certificates or a token,
 * and the in-cluster service account.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadKubeConfig, tokenFileUsers } from '../../core/services/informers/kubeconfig.ts';

async function authorization(kc: ReturnType<typeof loadKubeConfig>): Promise<string | undefined> {
  const opts: { headers?: Record<string, string> } = {};
  await kc.applyToHTTPSOptions(opts as never);
  return opts.headers?.Authorization;
}

describe('kubeconfig forms', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'krouter-kubeconfig-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const kubeconfig = (user: Record<string, unknown>) => {
    const file = path.join(dir, 'kubeconfig');
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'cluster', cluster: { server: 'https://10.0.0.1:6443', 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'kube-router', user }],
        contexts: [{ name: 'ctx', context: { cluster: 'cluster', user: 'kube-router' } }],
        'current-context': 'ctx',
      }),
    );
    return file;
  };

  it("user.tokenFile (kube-router's generic DaemonSets): the token is read from the file (client-node's tokenFile provider, which re-reads it as the kubelet rotates it)", async () => {
    const token = path.join(dir, 'token');
    writeFileSync(token, 'first-token');
    const kc = loadKubeConfig({ kubeconfig: kubeconfig({ tokenFile: token }) });
    assert.equal(await authorization(kc), 'Bearer first-token');
    assert.equal(kc.getCurrentCluster()?.server, 'https://10.0.0.1:6443');
  });

  it('a relative tokenFile is relative to the kubeconfig; a token wins over a tokenFile', () => {
    const file = path.join(dir, 'k');
    const users = tokenFileUsers(file, 'users:\n- name: a\n  user:\n    tokenFile: secrets/token\n- name: b\n  user:\n    token: t\n    tokenFile: /x\n');
    assert.deepEqual([...users], [['a', path.join(dir, 'secrets', 'token')]]);
  });

  it('user.token and client certificates work as written', async () => {
    assert.equal(await authorization(loadKubeConfig({ kubeconfig: kubeconfig({ token: 'abc' }) })), 'Bearer abc');
    writeFileSync(path.join(dir, 'c.crt'), 'CERT');
    writeFileSync(path.join(dir, 'c.key'), 'KEY');
    const kc = loadKubeConfig({ kubeconfig: kubeconfig({ 'client-certificate': path.join(dir, 'c.crt'), 'client-key': path.join(dir, 'c.key') }) });
    const user = kc.getCurrentUser()!;
    assert.equal(user.certFile, path.join(dir, 'c.crt'));
    assert.equal(user.keyFile, path.join(dir, 'c.key'));
    assert.equal(user.authProvider, undefined);
  });

  it('--master overrides the kubeconfig server; without a kubeconfig, the in-cluster service account', () => {
    const kc = loadKubeConfig({ kubeconfig: kubeconfig({ token: 'abc' }), master: 'https://10.9.9.9:6443' });
    assert.equal(kc.getCurrentCluster()?.server, 'https://10.9.9.9:6443');
    const inCluster = loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' } });
    assert.equal(inCluster.getCurrentUser()?.authProvider?.name, 'tokenFile');
    assert.equal(inCluster.getCurrentUser()?.authProvider?.config?.tokenFile, '/var/run/secrets/kubernetes.io/serviceaccount/token');
  });
});
