/** The kinds the informers watch: API path, list call and model type for deserialization. */
import { CoreV1Api, DiscoveryV1Api, NetworkingV1Api, type KubeConfig } from '@kubernetes/client-node';
import { endpointSliceFields, serviceFields } from './projections.ts';

export interface KindSpec {
  /** Name used in logs, metrics and errors (matches the Informers getter). */
  kind: string;
  /** Collection path across all namespaces, for watches. */
  path: string;
  /** client-node model name, to turn raw watch JSON into the typed object a list returns. */
  model: string;
  list(kc: KubeConfig): Promise<{ metadata?: { resourceVersion?: string }; items: unknown[] }>;
  /** What the cache keeps of an object (of its compact copy): the fields plugins read; the whole object when absent. */
  project?: (object: any) => unknown;
}

export const KINDS = {
  nodes: { kind: 'nodes', path: '/api/v1/nodes', model: 'V1Node', list: (kc) => kc.makeApiClient(CoreV1Api).listNode({}) },
  pods: { kind: 'pods', path: '/api/v1/pods', model: 'V1Pod', list: (kc) => kc.makeApiClient(CoreV1Api).listPodForAllNamespaces({}) },
  services: {
    kind: 'services',
    path: '/api/v1/services',
    model: 'V1Service',
    list: (kc) => kc.makeApiClient(CoreV1Api).listServiceForAllNamespaces({}),
    project: serviceFields,
  },
  endpointSlices: {
    kind: 'endpointSlices',
    path: '/apis/discovery.k8s.io/v1/endpointslices',
    model: 'V1EndpointSlice',
    list: (kc) => kc.makeApiClient(DiscoveryV1Api).listEndpointSliceForAllNamespaces({}),
    project: endpointSliceFields,
  },
  namespaces: { kind: 'namespaces', path: '/api/v1/namespaces', model: 'V1Namespace', list: (kc) => kc.makeApiClient(CoreV1Api).listNamespace({}) },
  networkPolicies: {
    kind: 'networkPolicies',
    path: '/apis/networking.k8s.io/v1/networkpolicies',
    model: 'V1NetworkPolicy',
    list: (kc) => kc.makeApiClient(NetworkingV1Api).listNetworkPolicyForAllNamespaces({}),
  },
} satisfies Record<string, KindSpec>;
