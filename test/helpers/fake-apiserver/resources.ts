/** The resource kinds the scripted API server serves, with what discovery and routing need to know. */
export interface ResourceDef {
  group: string; // '' for the core group
  version: string;
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  verbs: string[];
  /** Has a `status` subresource: main-resource writes keep status, /status writes keep everything else. */
  status: boolean;
  /** Field selector labels besides metadata.name / metadata.namespace. */
  fields: string[];
}

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export const RESOURCES: ResourceDef[] = [
  { group: '', version: 'v1', plural: 'nodes', singular: 'node', kind: 'Node', namespaced: false, shortNames: ['no'], verbs: ALL_VERBS, status: true, fields: ['spec.unschedulable'] },
  { group: '', version: 'v1', plural: 'namespaces', singular: 'namespace', kind: 'Namespace', namespaced: false, shortNames: ['ns'], verbs: ALL_VERBS.filter((v) => v !== 'deletecollection'), status: true, fields: ['status.phase'] },
  {
    group: '', version: 'v1', plural: 'pods', singular: 'pod', kind: 'Pod', namespaced: true, shortNames: ['po'], verbs: ALL_VERBS, status: true,
    fields: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.nominatedNodeName'],
  },
  { group: '', version: 'v1', plural: 'services', singular: 'service', kind: 'Service', namespaced: true, shortNames: ['svc'], verbs: ALL_VERBS.filter((v) => v !== 'deletecollection'), status: true, fields: ['spec.clusterIP', 'spec.type'] },
  {
    group: '', version: 'v1', plural: 'events', singular: 'event', kind: 'Event', namespaced: true, shortNames: ['ev'], verbs: ['create', 'list'], status: false,
    fields: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type'],
  },
  { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', singular: 'endpointslice', kind: 'EndpointSlice', namespaced: true, shortNames: [], verbs: ALL_VERBS, status: false, fields: [] },
  { group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies', singular: 'networkpolicy', kind: 'NetworkPolicy', namespaced: true, shortNames: ['netpol'], verbs: ALL_VERBS, status: false, fields: [] },
  { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', singular: 'lease', kind: 'Lease', namespaced: true, shortNames: [], verbs: ALL_VERBS, status: false, fields: [] },
  // Not used by krouter: kube-proxy (the benchmarks' reference) watches it for its service-range rules.
  { group: 'networking.k8s.io', version: 'v1', plural: 'servicecidrs', singular: 'servicecidr', kind: 'ServiceCIDR', namespaced: false, shortNames: [], verbs: ALL_VERBS, status: true, fields: [] },
];

export function apiVersionOf(def: ResourceDef): string {
  return def.group ? `${def.group}/${def.version}` : def.version;
}

/** Key of a resource in the store: `pods`, `endpointslices.discovery.k8s.io`. */
export function resourceKey(def: ResourceDef): string {
  return def.group ? `${def.plural}.${def.group}` : def.plural;
}

export function findResource(group: string, version: string, plural: string): ResourceDef | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
}

export function resourceByKind(kind: string): ResourceDef | undefined {
  return RESOURCES.find((r) => r.kind === kind);
}
