/**
 * Where the API server is: a kubeconfig file, else a `--master` URL (plain http
 * allowed, for the lab), else in-cluster service account, else client-node's
 * default search. A master given with a kubeconfig overrides its server, as
 * kube-router's client-go flags do.
 */
import { KubeConfig, type Cluster } from '@kubernetes/client-node';

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
    kc.loadFromOptions({
      clusters: kc.clusters.map((c) => allowPlainHttp(c.name === current.name && opts.master ? { ...c, server: opts.master } : c)),
      users: kc.users,
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
