/**
 * kube-network-policies (the reference NetworkPolicy implementation the
 * firewall is compared with) on a lab's nodes: built by build.sh beside this
 * file, run as one process per node inside the node's network namespace,
 * as its DaemonSet would run it (host network, its own ServiceAccount and
 * ClusterRole, hostname override = node name).
 *
 * It reads its API server from the in-cluster configuration only (no
 * kubeconfig flag): the process gets KUBERNETES_SERVICE_HOST/PORT and a
 * service-account token and the lab's CA bind-mounted at the in-cluster path,
 * private to its mount namespace (`ip netns exec` gives it one).
 *
 * It puts one nftables table, `inet kube-network-policies`, in the node's
 * namespace: the packets of new connections to or from pods that a policy
 * selects go through NFQUEUE to the process, which answers accept or drop.
 * It removes the table on SIGINT (SIGTERM ends it without cleaning up), so
 * it is stopped with SIGINT by PID and the table is checked gone after.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createNetns, deleteNetns } from '../../../helpers/netns.ts';
import { startProcess } from '../../../helpers/processes.ts';
import { apiServerAddress, API_PORT, nodeNetns, type LabSpec } from '../../../lab/config.ts';
import { pkiFiles } from '../../../lab/k8s/pki.ts';
import { controlPlanePaths } from '../../../lab/k8s/control-plane.ts';
import { ensureMountTarget, nodeExecArgv } from '../../../lab/kubelet/container.ts';
import { KubeError, R, type KubeClient, type Obj, type ResourcePath } from '../../../lab/kube.ts';
import { until } from '../../../lab/testing.ts';

const HERE = import.meta.dirname;
export const KNP_TABLE = { family: 'inet', name: 'kube-network-policies' } as const;
export const KNP_NAME = 'kube-network-policies';
export const KNP_NAMESPACE = 'kube-system';
/** The queue its rules send packets to (per network namespace, so the same on every node). */
export const KNP_QUEUE = 100;
const METRICS = '127.0.0.1:9080';
const SA_MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

const CLUSTER_ROLES: ResourcePath = { prefix: '/apis/rbac.authorization.k8s.io/v1', plural: 'clusterroles', namespaced: false };
const CLUSTER_ROLE_BINDINGS: ResourcePath = { prefix: '/apis/rbac.authorization.k8s.io/v1', plural: 'clusterrolebindings', namespaced: false };

/** The binary's path; builds it (minutes, once per machine) when missing. Build progress goes to stderr. */
export function knpBinary(): string {
  return execFileSync('bash', [path.join(HERE, 'build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

/**
 * Pure: why `nft` refused a rule with a `queue` statement, in words, or
 * undefined when it did not refuse. nft answers "No such file or directory"
 * when the kernel has no such expression (nft_queue, CONFIG_NFT_QUEUE).
 */
export function queueRefusal(nftStderr: string | undefined): string | undefined {
  if (!nftStderr) return undefined;
  if (/No such file or directory/.test(nftStderr)) {
    return 'no nftables queue expression in this kernel (nft_queue, CONFIG_NFT_QUEUE)';
  }
  return `nft refused a queue rule: ${nftStderr.trim().split('\n')[0]}`;
}

/**
 * Whether this kernel can run kube-network-policies' rules: loads a table
 * with a `queue` rule into a throwaway namespace. Undefined = it can; else
 * the reason it cannot.
 */
export function knpKernelBlocker(): string | undefined {
  const ns = createNetns('knp-probe');
  try {
    execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], {
      input: 'table inet krouter-queue-probe {\n  chain c {\n    type filter hook postrouting priority 0;\n    queue flags bypass to 65000\n  }\n}\n',
      stdio: ['pipe', 'ignore', 'pipe'],
      encoding: 'utf8',
    });
    return undefined;
  } catch (e) {
    return queueRefusal((e as { stderr?: string }).stderr) ?? `nft failed: ${(e as Error).message}`;
  } finally {
    deleteNetns(ns);
  }
}

/** Pure: its ServiceAccount, and what it reads (pods, namespaces, policies) and writes (events), as its install manifest grants. */
export function knpRbac(): { serviceAccount: Obj; clusterRole: Obj; binding: Obj } {
  return {
    serviceAccount: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: KNP_NAME, namespace: KNP_NAMESPACE } },
    clusterRole: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: KNP_NAME },
      rules: [
        { apiGroups: [''], resources: ['pods', 'namespaces'], verbs: ['list', 'watch'] },
        { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['list', 'watch'] },
        // Its event recorder posts events; without this it only logs refusals.
        { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch', 'update'] },
      ],
    },
    binding: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: KNP_NAME },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: KNP_NAME },
      subjects: [{ kind: 'ServiceAccount', name: KNP_NAME, namespace: KNP_NAMESPACE }],
    },
  } as { serviceAccount: Obj; clusterRole: Obj; binding: Obj };
}

/**
 * Pure: its command line on `node`. The DNS workaround is off: it exists
 * for kernels before 6.12 (its flag's help says so), and it would only add a
 * prerouting chain for UDP port 53, which no probe here uses.
 */
export function knpArgs(node: string): string[] {
  return [`--hostname-override=${node}`, `--nfqueue-id=${KNP_QUEUE}`, `--metrics-bind-address=${METRICS}`, '--netfilter-bug-1766-fix=false', '--v=1'];
}

async function createOrKeep(client: KubeClient, r: ResourcePath, obj: Obj): Promise<void> {
  try {
    await client.create(r, obj);
  } catch (e) {
    if (!(e instanceof KubeError && e.code === 409)) throw e;
  }
}

/** Its identity in the API and the in-cluster files (token, CA, namespace) in a directory of the state dir. */
async function serviceAccountDir(client: KubeClient, spec: LabSpec): Promise<string> {
  const rbac = knpRbac();
  await createOrKeep(client, R.serviceaccounts, rbac.serviceAccount);
  await createOrKeep(client, CLUSTER_ROLES, rbac.clusterRole);
  await createOrKeep(client, CLUSTER_ROLE_BINDINGS, rbac.binding);
  const res = (await client.request('POST', `/api/v1/namespaces/${KNP_NAMESPACE}/serviceaccounts/${KNP_NAME}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: 4 * 3600 },
  })) as { status?: { token?: string } };
  const token = res.status?.token;
  if (!token) throw new Error(`TokenRequest for ${KNP_NAMESPACE}/${KNP_NAME}: no token in the answer`);
  const dir = path.join(spec.stateDir, 'kube-network-policies', 'serviceaccount');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'token'), token);
  writeFileSync(path.join(dir, 'namespace'), KNP_NAMESPACE);
  copyFileSync(pkiFiles(controlPlanePaths(spec.stateDir).pki).caCert, path.join(dir, 'ca.crt'));
  return dir;
}

/** Whether its table is in the node's namespace. */
export function knpTablePresent(node: string): boolean {
  try {
    execFileSync('ip', ['netns', 'exec', nodeNetns(node), 'nft', 'list', 'table', KNP_TABLE.family, KNP_TABLE.name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface KnpRun {
  /** The last lines each node's process printed. */
  output(node: string): string;
  /** SIGINT by PID, SIGKILL after 15 s; then its table must be gone from every node (removed, and reported, if not). */
  stop(): Promise<{ leftTables: string[] }>;
}

/** Starts it on every node of the lab and waits until each has put its table in place. */
export async function startKnp(client: KubeClient, spec: LabSpec, bin: string): Promise<KnpRun> {
  const saDir = await serviceAccountDir(client, spec);
  ensureMountTarget(spec.stateDir, SA_MOUNT, 'dir');
  const env = { KUBERNETES_SERVICE_HOST: apiServerAddress(spec), KUBERNETES_SERVICE_PORT: String(API_PORT) };
  const procs = new Map<string, { child: ChildProcess; lines: string[] }>();
  for (const node of spec.nodes) {
    const [cmd, ...args] = nodeExecArgv(nodeNetns(node), [{ source: saDir, target: SA_MOUNT, readOnly: true }], [bin, ...knpArgs(node)], env);
    const child = startProcess(cmd!, args);
    const lines: string[] = [];
    const keep = (d: Buffer) => {
      lines.push(...d.toString('utf8').split('\n').filter(Boolean));
      if (lines.length > 200) lines.splice(0, lines.length - 200);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    procs.set(node, { child, lines });
  }
  const output = (node: string) => procs.get(node)?.lines.join('\n') ?? '';

  const stop = async () => {
    await Promise.all(
      [...procs.values()].map(async ({ child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        // `ip netns exec` and `sh -c '... && exec ...'` exec in place: this PID is the process itself.
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }),
    );
    const leftTables = spec.nodes.filter((n) => knpTablePresent(n));
    for (const node of leftTables) execFileSync('ip', ['netns', 'exec', nodeNetns(node), 'nft', 'delete', 'table', KNP_TABLE.family, KNP_TABLE.name]);
    return { leftTables };
  };

  try {
    await until(`kube-network-policies' table in every node's namespace`, () => {
      for (const [node, { child }] of procs) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`kube-network-policies on ${node} exited (${child.exitCode ?? child.signalCode}):\n${output(node)}`);
      }
      return spec.nodes.every((n) => knpTablePresent(n)) ? true : undefined;
    }, 60_000, 250).catch((e: Error) => {
      throw new Error(`${e.message}\n--- ${spec.nodes[0]}'s kube-network-policies said:\n${output(spec.nodes[0]!)}`);
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return { output, stop };
}
