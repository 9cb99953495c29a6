/**
 * Where the API server is: a kubeconfig file, else a `--master` URL (plain http
 * allowed, for the lab), else in-cluster service account, else client-node's
 * default search. A master given with a kubeconfig overrides its server, as
 * kube-router's client-go flags do.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { KubeConfig, type Cluster, type User } from '@kubernetes/client-node';
import YAML from 'yaml';

/**
 * client-go's `user.tokenFile` (kube-router's DaemonSets point it at the
 * service-account token): client-node ignores that key, so such a user would
 * go anonymous. Read from the file itself and turned into client-node's
 * tokenFile auth provider, which re-reads the file as the kubelet rotates
 * the token. Relative paths are relative to the kubeconfig, as in client-go.
 */
export function tokenFileUsers(file: string, text: string): Map<string, string> {
  const out = new Map<string, string>();
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch {
    return out;
  }
  const users = (doc as { users?: unknown } | null)?.users;
  if (!Array.isArray(users)) return out;
  for (const u of users as Array<{ name?: unknown; user?: { tokenFile?: unknown; token?: unknown } }>) {
    const tokenFile = u?.user?.tokenFile;
    if (typeof u?.name === 'string' && typeof tokenFile === 'string' && tokenFile && !u.user?.token) {
      out.set(u.name, path.resolve(path.dirname(file), tokenFile));
    }
  }
  return out;
}

function withTokenFile(user: User, tokenFile: string | undefined): User {
  if (!tokenFile || user.token || user.authProvider) return user;
  return { ...user, authProvider: { name: 'tokenFile', config: { tokenFile } } };
}

/**
 * client-node refuses a plain http server unless skipTLSVerify is set; over http
 * there is no TLS to verify, so setting it there weakens nothing. https servers
 * keep their verification as configured.
 */
function allowPlainHttp(c: Cluster): Cluster {
  return c.server.startsWith('http://') ? { ...c, skipTLSVerify: true } : c;
}

export function loadKubeConfig(opts: { kubeconfig?: string; master?: string; env?: NodeJS.ProcessEnv }): KubeConfig {
  const env = opts.env ?? process.env;
  const kc = new KubeConfig();
  if (opts.kubeconfig) {
    try {
      kc.loadFromFile(opts.kubeconfig);
    } catch (err) {
      throw new Error(`kubeconfig ${opts.kubeconfig}: ${(err as Error).message}`);
    }
    if (!kc.getCurrentCluster()) throw new Error(`kubeconfig ${opts.kubeconfig}: no current cluster (set current-context)`);
    const current = kc.getCurrentCluster()!;
    const tokenFiles = tokenFileUsers(opts.kubeconfig, readFileSync(opts.kubeconfig, 'utf8'));
    kc.loadFromOptions({
      clusters: kc.clusters.map((c) => allowPlainHttp(c.name === current.name && opts.master ? { ...c, server: opts.master } : c)),
      users: kc.users.map((u) => withTokenFile(u, tokenFiles.get(u.name))),
      contexts: kc.contexts,
      currentContext: kc.currentContext,
    });
    return kc;
  }
  if (opts.master) {
    let url: URL;
    try {
      url = new URL(opts.master);
    } catch {
      throw new Error(`master: "${opts.master}" is not a URL (expected e.g. https://10.0.0.1:6443)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`master: "${opts.master}" must be an http or https URL`);
    kc.loadFromOptions({
      clusters: [allowPlainHttp({ name: 'master', server: opts.master.replace(/\/+$/, ''), skipTLSVerify: false })],
      users: [{ name: 'anonymous' }],
      contexts: [{ name: 'master', cluster: 'master', user: 'anonymous' }],
      currentContext: 'master',
    });
    return kc;
  }
  if (env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT) {
    kc.loadFromCluster();
    return kc;
  }
  kc.loadFromDefault();
  return kc;
}
