/**
 * The agents, deployed the way users deploy them: deploy/rbac.yaml, a
 * ConfigMap made from deploy/config.yaml and deploy/daemonset.yaml, applied
 * with kubectl. Only lab values are patched (pure functions, unit-tested):
 *
 * - the config: the lab's families, external router peers, service ranges
 *   and which plugins run (`up --plugins`, `--router-config`,
 *   `--loadbalancer-config`; the loadbalancer plugin's ranges from the
 *   lab's address plan);
 * - the DaemonSet: the image (the lab kubelet runs krouter's image as the
 *   built `dist/krouter`) and the API server's address
 *   (KUBERNETES_SERVICE_HOST/PORT: a node agent must reach the API server
 *   before any service proxy runs, so it cannot use the `kubernetes`
 *   Service's ClusterIP).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { AGENT_HEALTH_PORT, AGENT_METRICS_PORT, API_PORT, CLUSTER_ASN, ROUTER_ASN, apiServerAddress, apiServerUrl, clusterCidrs, families, loadBalancerRanges, routerUnderlay, statePaths, type LabSpec } from './config.ts';

export const AGENT_NAMESPACE = 'kube-system';
export const AGENT_DAEMONSET = 'krouter';
export const AGENT_CONFIGMAP = 'krouter-config';
/** The image the lab kubelet maps onto dist/krouter. */
export const LAB_IMAGE = 'krouter-lab/krouter:dev';

type Doc = Record<string, any>;

function deployFile(spec: Pick<LabSpec, 'repoRoot'>, name: string): string {
  return readFileSync(path.join(spec.repoRoot, 'deploy', name), 'utf8');
}

/** deploy/config.yaml with the lab's values: the agents' config file. */
export function renderAgentConfig(spec: LabSpec, exampleText: string): Doc {
  const cfg = YAML.parse(exampleText) as Doc;
  const cidrs = clusterCidrs(spec);
  cfg.families = spec.family;
  // The example's third-party plugin file does not exist on lab nodes.
  cfg.externalPlugins = [];
  const plugins: Doc = {};
  const example = (cfg.plugins ?? {}) as Doc;
  if (spec.plugins.cni) plugins.cni = { ...example.cni, enabled: true, clusterCIDRs: Object.values(cidrs.pods) };
  if (spec.plugins.router) {
    plugins.router = {
      ...example.router,
      enabled: true,
      clusterAsn: CLUSTER_ASN,
      peerRouters: spec.router === 'none' ? [] : Object.values(routerUnderlay(spec)).map((address) => ({ address, asn: ROUTER_ASN })),
      serviceClusterIPRanges: Object.values(cidrs.services),
      // What a test or a person asked for (`up --router-config`) wins over the lab's defaults.
      ...(spec.routerConfig ?? {}),
    };
  }
  if (spec.plugins.serviceProxy) plugins['service-proxy'] = { enabled: true };
  if (spec.plugins.firewall) plugins.firewall = { enabled: true };
  if (spec.plugins.loadbalancer) {
    plugins.loadbalancer = { enabled: true, ipRanges: Object.values(loadBalancerRanges(spec)), ...(spec.loadBalancerConfig ?? {}) };
  }
  // `up --plugin-config`: over the lab's defaults, for the plugins that run.
  for (const [name, section] of Object.entries(spec.pluginConfig ?? {})) if (plugins[name]) plugins[name] = { ...plugins[name], ...section };
  cfg.plugins = plugins;
  return cfg;
}

/** The ConfigMap the DaemonSet mounts at /etc/krouter. */
export function renderConfigMap(configText: string): Doc {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: AGENT_CONFIGMAP, namespace: AGENT_NAMESPACE }, data: { 'config.yaml': configText } };
}

/** deploy/daemonset.yaml with the lab image and the API server's address in the agent's env. */
export function patchDaemonSet(ds: Doc, spec: Pick<LabSpec, 'family'>): Doc {
  const out = structuredClone(ds);
  const podSpec = out.spec.template.spec;
  for (const c of [...(podSpec.initContainers ?? []), ...podSpec.containers]) c.image = LAB_IMAGE;
  const agent = podSpec.containers.find((c: Doc) => c.name === 'krouter') ?? podSpec.containers[0];
  const apiEnv = [
    { name: 'KUBERNETES_SERVICE_HOST', value: apiServerAddress(spec) },
    { name: 'KUBERNETES_SERVICE_PORT', value: String(API_PORT) },
  ];
  agent.env = [...(agent.env ?? []).filter((e: Doc) => !apiEnv.some((a) => a.name === e.name)), ...apiEnv];
  return out;
}

// ---- kube-router's way (`up --kube-router-args`) -------------------------------

/** The ConfigMap kube-router's DaemonSets mount at /var/lib/kube-router: a kubeconfig whose user reads the service-account token file. */
export const KUBE_ROUTER_CONFIGMAP = 'kube-router-cfg';
export const KUBE_ROUTER_KUBECONFIG_DIR = '/var/lib/kube-router';
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** kube-router's kubeconfig of its generic DaemonSets, with the lab's API server. */
export function kubeRouterKubeconfig(spec: Pick<LabSpec, 'family'>): string {
  return YAML.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'cluster', cluster: { 'certificate-authority': `${SA_DIR}/ca.crt`, server: apiServerUrl(spec) } }],
    users: [{ name: 'kube-router', user: { tokenFile: `${SA_DIR}/token` } }],
    contexts: [{ name: 'kube-router-context', context: { cluster: 'cluster', user: 'kube-router' } }],
    'current-context': 'kube-router-context',
  });
}

/**
 * The agent's arguments as a kube-router DaemonSet gives them: flags only, no
 * subcommand and no config file. Pure.
 */
export function kubeRouterLabArgs(spec: LabSpec): string[] {
  const fams = families(spec);
  const cidrs = clusterCidrs(spec);
  const args = [
    `--run-router=${spec.plugins.router}`,
    `--run-firewall=${spec.plugins.firewall}`,
    `--run-service-proxy=${spec.plugins.serviceProxy}`,
    `--enable-cni=${spec.plugins.cni}`,
    `--enable-ipv4=${fams.includes('ipv4')}`,
    `--enable-ipv6=${fams.includes('ipv6')}`,
    `--kubeconfig=${KUBE_ROUTER_KUBECONFIG_DIR}/kubeconfig`,
    `--cluster-asn=${CLUSTER_ASN}`,
    '--bgp-graceful-restart=true',
    // The lab's checks probe a pod through a service it backs.
    '--hairpin-mode=true',
    `--metrics-port=${AGENT_METRICS_PORT}`,
    `--health-port=${AGENT_HEALTH_PORT}`,
    // No effect in krouter: warned about once at start.
    '--enable-overlay=false',
  ];
  for (const range of Object.values(cidrs.services)) args.push(`--service-cluster-ip-range=${range}`);
  if (spec.plugins.loadbalancer) {
    args.push('--run-loadbalancer=true', ...Object.values(loadBalancerRanges(spec)).map((r) => `--loadbalancer-ip-range=${r}`));
  }
  if (spec.router !== 'none') {
    const peers = Object.values(routerUnderlay(spec));
    args.push(`--peer-router-ips=${peers.join(',')}`, `--peer-router-asns=${peers.map(() => ROUTER_ASN).join(',')}`);
  }
  return args;
}

/** The DaemonSet as kube-router's: kube-router's args and environment, its kubeconfig ConfigMap, no krouter config. Pure. */
export function kubeRouterDaemonSet(ds: Doc, spec: LabSpec): Doc {
  const out = structuredClone(ds);
  const podSpec = out.spec.template.spec;
  const agent = podSpec.containers.find((c: Doc) => c.name === 'krouter') ?? podSpec.containers[0];
  agent.args = kubeRouterLabArgs(spec);
  agent.env = [
    ...(agent.env ?? []).filter((e: Doc) => e.name !== 'KUBE_ROUTER_CNI_CONF_FILE'),
    { name: 'KUBE_ROUTER_CNI_CONF_FILE', value: '/etc/cni/net.d/10-kuberouter.conflist' },
  ];
  agent.volumeMounts = [
    ...(agent.volumeMounts ?? []).filter((m: Doc) => m.name !== 'config'),
    { name: 'kubeconfig', mountPath: KUBE_ROUTER_KUBECONFIG_DIR, readOnly: true },
  ];
  podSpec.volumes = [...(podSpec.volumes ?? []).filter((v: Doc) => v.name !== 'config'), { name: 'kubeconfig', configMap: { name: KUBE_ROUTER_CONFIGMAP } }];
  return out;
}

/** Every document of deploy/rbac.yaml and deploy/daemonset.yaml, the latter patched, plus the ConfigMap. */
export function renderDeployment(spec: LabSpec, files: { rbac: string; daemonset: string; config: string }): { configText: string; docs: Doc[] } {
  if (spec.kubeRouterArgs) {
    const rbac = YAML.parseAllDocuments(files.rbac).map((d) => d.toJSON() as Doc).filter(Boolean);
    const daemonsets = YAML.parseAllDocuments(files.daemonset).map((d) => d.toJSON() as Doc).filter(Boolean);
    if (daemonsets.length !== 1 || daemonsets[0]!.kind !== 'DaemonSet') throw new Error('deploy/daemonset.yaml: expected exactly one DaemonSet');
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: KUBE_ROUTER_CONFIGMAP, namespace: AGENT_NAMESPACE }, data: { kubeconfig: kubeRouterKubeconfig(spec) } };
    const ds = kubeRouterDaemonSet(patchDaemonSet(daemonsets[0]!, spec), spec);
    return { configText: '', docs: [...rbac, cm, ds] };
  }
  const configText = `# krouter config of the lab (deploy/config.yaml with lab values)\n${YAML.stringify(renderAgentConfig(spec, files.config))}`;
  const rbac = YAML.parseAllDocuments(files.rbac).map((d) => d.toJSON() as Doc).filter(Boolean);
  const daemonsets = YAML.parseAllDocuments(files.daemonset).map((d) => d.toJSON() as Doc).filter(Boolean);
  if (daemonsets.length !== 1 || daemonsets[0]!.kind !== 'DaemonSet') throw new Error('deploy/daemonset.yaml: expected exactly one DaemonSet');
  return { configText, docs: [...rbac, renderConfigMap(configText), patchDaemonSet(daemonsets[0]!, spec)] };
}

/** Writes what the lab applies under <state>/deploy/ (kept for inspection); returns the manifest file. */
export function writeDeployment(spec: LabSpec): { manifest: string; config: string } {
  const dir = statePaths.deployDir(spec.stateDir);
  mkdirSync(dir, { recursive: true });
  const { configText, docs } = renderDeployment(spec, { rbac: deployFile(spec, 'rbac.yaml'), daemonset: deployFile(spec, 'daemonset.yaml'), config: deployFile(spec, 'config.yaml') });
  const config = path.join(dir, 'config.yaml');
  // With kube-router's args there is no config file (deployedAgentConfig() then answers undefined).
  if (spec.kubeRouterArgs) rmSync(config, { force: true });
  else writeFileSync(config, configText);
  const manifest = path.join(dir, 'krouter.yaml');
  writeFileSync(manifest, docs.map((d) => YAML.stringify(d)).join('---\n'));
  return { manifest, config };
}

/** The agents' config as the lab deployed it (undefined before `up` wrote it). */
export function deployedAgentConfig(spec: Pick<LabSpec, 'stateDir'>): Doc | undefined {
  try {
    return YAML.parse(readFileSync(path.join(statePaths.deployDir(spec.stateDir), 'config.yaml'), 'utf8')) as Doc;
  } catch {
    return undefined;
  }
}
