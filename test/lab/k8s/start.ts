/**
 * Bringing the lab's control plane up: the Kubernetes binaries (built once
 * per machine by build.sh), the certificates and kubeconfigs, then etcd, the
 * API server (until /readyz answers), the controller manager and the
 * scheduler, each a process recorded in lab.json before anything waits on it.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { firstHost } from '../../../sdk/src/families.ts';
import { apiServerAddress, apiServerUrl, clusterCidrs, families, nodeUnderlayByName, statePaths, API_PORT, type LabSpec } from '../config.ts';
import { CommandError, run, spawnDetached } from '../proc.ts';
import type { RecordedProcess } from '../state.ts';
import { controlPlaneCommands, controlPlanePaths, KUBECONFIG_IDENTITIES, renderCorefile, type ControlPlaneSpec } from './control-plane.ts';
import { ADMIN, nodeIdentity, pkiCommands, pkiFiles, pkiPlan, renderKubeconfig, type Identity } from './pki.ts';

const BUILD_SCRIPT = (repoRoot: string) => path.join(repoRoot, 'test', 'lab', 'k8s', 'build.sh');
const DNS_BUILD_SCRIPT = (repoRoot: string) => path.join(repoRoot, 'test', 'lab', 'k8s', 'dns', 'build.sh');

function buildOnce(script: string, what: string, args: string[] = []): string {
  const r = spawnSync('bash', [script, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new CommandError(['bash', script, ...args], `building ${what} failed (output above)`, r.status);
  return r.stdout.trim().split('\n').pop()!;
}

/** Where the lab's Go-built components are. */
export interface LabBinaries {
  /** kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd (build.sh). */
  k8s: string;
  /** coredns (dns/build.sh). */
  dns: string;
}

/** The binaries' directories, built first when missing (progress goes to stderr). */
export function ensureKubernetesBinaries(repoRoot: string): LabBinaries {
  return { k8s: buildOnce(BUILD_SCRIPT(repoRoot), 'the Kubernetes components'), dns: buildOnce(DNS_BUILD_SCRIPT(repoRoot), 'CoreDNS') };
}

export function controlPlaneSpec(spec: LabSpec, bins: LabBinaries): ControlPlaneSpec {
  const cidrs = clusterCidrs(spec);
  const fams = families(spec);
  return {
    binDir: bins.k8s,
    stateDir: spec.stateDir,
    apiAddress: apiServerAddress(spec),
    apiPort: API_PORT,
    serviceCIDRs: fams.map((f) => cidrs.services[f]!),
    podCIDRs: fams.map((f) => cidrs.pods[f]!),
    nodeMaskSizes: fams.map((f) => cidrs.podMaskSize[f]),
    dnsBinDir: bins.dns,
  };
}

/** The first address of each service range (the `kubernetes` Service's ClusterIP lives there). */
function firstServiceIPs(spec: LabSpec): string[] {
  return Object.values(clusterCidrs(spec).services).map((c) => firstHost(c!));
}

/** Certificates and the kubeconfigs of every identity (the admin's also at statePaths.kubeconfig for kubectl). */
export function writePki(spec: LabSpec): void {
  const p = controlPlanePaths(spec.stateDir);
  mkdirSync(p.pki, { recursive: true, mode: 0o700 });
  mkdirSync(p.kubeconfigs, { recursive: true });
  const nodeIPs = Object.fromEntries(spec.nodes.map((n) => [n, Object.values(nodeUnderlayByName(spec, n))]));
  for (const argv of pkiCommands(pkiPlan({ dir: p.pki, apiAddresses: [apiServerAddress(spec)], firstServiceIPs: firstServiceIPs(spec), nodes: spec.nodes, nodeIPs }))) run(argv);
  const f = pkiFiles(p.pki);
  const kubeconfig = (id: Identity) => renderKubeconfig({ server: apiServerUrl(spec), caCert: f.caCert, cert: f.cert(id), key: f.key(id), user: id.cn });
  for (const id of [...KUBECONFIG_IDENTITIES, ...spec.nodes.map(nodeIdentity)]) writeFileSync(p.kubeconfig(id), kubeconfig(id));
  writeFileSync(statePaths.kubeconfig(spec.stateDir), kubeconfig(ADMIN));
}

/** Starts one component; `record` puts it in lab.json at once. */
export function startComponents(spec: LabSpec, bins: LabBinaries, record: (p: RecordedProcess) => RecordedProcess): Map<string, RecordedProcess> {
  const out = new Map<string, RecordedProcess>();
  const cp = controlPlaneSpec(spec, bins);
  mkdirSync(controlPlanePaths(spec.stateDir).etcdData, { recursive: true, mode: 0o700 });
  writeFileSync(controlPlanePaths(spec.stateDir).corefile, renderCorefile(cp));
  for (const c of controlPlaneCommands(cp)) {
    out.set(c.name, record(spawnDetached(c.name, c.argv, { log: statePaths.log(spec.stateDir, c.name) })));
  }
  return out;
}
