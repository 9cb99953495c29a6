/**
 * What the lab kubelet tells the API server about its node, as pure
 * functions: the Node it registers, the status it posts, the Lease it renews.
 */
import type { FamilyMap } from '../config.ts';

/** A kubelet's version string as the Node shows it (the lab kubelet is not a real one). */
export const LAB_KUBELET_VERSION = 'v0.0.0-krouter-lab';
/** How often the node Lease is renewed, and for how long it holds (the kubelet's defaults). */
export const LEASE_RENEW_SECONDS = 10;
export const LEASE_DURATION_SECONDS = 40;
export const LEASE_NAMESPACE = 'kube-node-lease';
/** The kubelet API's port (exec), as a kubelet's default; the API server reads it from the Node status. */
export const KUBELET_PORT = 10250;
/**
 * Features the node declares (sorted, as validation requires). With
 * ExtendWebSocketsToKubelet the API server passes a WebSocket exec straight
 * through to the kubelet instead of translating it to SPDY, so the lab
 * kubelet needs only the WebSocket protocol (kubelet/exec-protocol.ts).
 */
export const DECLARED_FEATURES = ['ExtendWebSocketsToKubelet'];

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };

/** The Node object a kubelet creates at registration (its own name and labels; spec is the controllers'). */
export function nodeObject(node: string, annotations: Record<string, string> | undefined): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: node,
      // Only labels NodeRestriction lets a kubelet set on itself.
      labels: { 'kubernetes.io/hostname': node, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': ARCH[process.arch] ?? process.arch },
      ...(annotations ? { annotations } : {}),
    },
  };
}

/** The node status: addresses per family, Ready once the network plugin wrote its CNI config, capacity for the scheduler. */
export function nodeStatus(opts: { node: string; addresses: FamilyMap<string>; networkReady: boolean; cniConfPath: string; now?: Date }): Record<string, unknown> {
  const now = (opts.now ?? new Date()).toISOString();
  const ready = opts.networkReady;
  // The scheduler places a pod only where capacity covers its requests.
  const capacity = { cpu: '8', memory: '16Gi', pods: '110', 'ephemeral-storage': '100Gi' };
  return {
    addresses: [...Object.values(opts.addresses).map((address) => ({ type: 'InternalIP', address })), { type: 'Hostname', address: opts.node }],
    capacity,
    allocatable: capacity,
    daemonEndpoints: { kubeletEndpoint: { Port: KUBELET_PORT } },
    declaredFeatures: DECLARED_FEATURES,
    conditions: [
      {
        type: 'Ready',
        status: ready ? 'True' : 'False',
        reason: ready ? 'KubeletReady' : 'KubeletNotReady',
        message: ready ? 'lab kubelet is posting ready status' : `container runtime network not ready: no CNI config at ${opts.cniConfPath}`,
        lastHeartbeatTime: now,
        lastTransitionTime: now,
      },
    ],
    nodeInfo: {
      kubeletVersion: LAB_KUBELET_VERSION,
      kubeProxyVersion: '',
      operatingSystem: 'linux',
      architecture: ARCH[process.arch] ?? process.arch,
      containerRuntimeVersion: 'krouter-lab://0',
      kernelVersion: '',
      osImage: 'krouter lab node',
      machineID: '',
      systemUUID: '',
      bootID: '',
    },
  };
}

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** The node's Lease (what keeps the node-lifecycle controller from marking it NotReady). */
export function leaseObject(node: string, nodeUid: string | undefined, now: Date): Record<string, unknown> {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: node,
      namespace: LEASE_NAMESPACE,
      ...(nodeUid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node, uid: nodeUid }] } : {}),
    },
    spec: { holderIdentity: node, leaseDurationSeconds: LEASE_DURATION_SECONDS, renewTime: microTime(now) },
  };
}

