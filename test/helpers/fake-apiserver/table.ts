/** Minimal server-side printing (meta.k8s.io/v1 Table) for `kubectl get`. */
import type { ResourceDef } from './resources.ts';
import type { KubeObject } from './store.ts';

interface Column {
  name: string;
  type: string;
  format?: string;
  description: string;
  cell(obj: KubeObject): string | number;
}

/** Age the way kubectl prints it: 42s, 5m, 3h, 2d. */
export function humanAge(created: string | undefined, now = Date.now()): string {
  if (!created) return '<unknown>';
  const s = Math.max(0, Math.floor((now - Date.parse(created)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

const nameCol: Column = { name: 'Name', type: 'string', format: 'name', description: 'Name of the object', cell: (o) => o.metadata.name };
const ageCol: Column = { name: 'Age', type: 'string', description: 'Time since creation', cell: (o) => humanAge(o.metadata.creationTimestamp) };

const extra: Record<string, Column[]> = {
  pods: [
    { name: 'Status', type: 'string', description: 'Pod phase', cell: (o) => o.status?.phase ?? '' },
    { name: 'IP', type: 'string', description: 'Pod IP', cell: (o) => o.status?.podIP ?? '<none>' },
    { name: 'Node', type: 'string', description: 'Node the pod is bound to', cell: (o) => o.spec?.nodeName ?? '<none>' },
  ],
  services: [
    { name: 'Type', type: 'string', description: 'Service type', cell: (o) => o.spec?.type ?? 'ClusterIP' },
    { name: 'Cluster-IP', type: 'string', description: 'Cluster IPs', cell: (o) => (o.spec?.clusterIPs ?? [o.spec?.clusterIP]).filter(Boolean).join(',') || '<none>' },
  ],
  namespaces: [{ name: 'Status', type: 'string', description: 'Namespace phase', cell: (o) => o.status?.phase ?? '' }],
};

function columns(def: ResourceDef): Column[] {
  return [nameCol, ...(extra[def.plural] ?? []), ageCol];
}

export function wantsTable(accept: string | undefined): boolean {
  return !!accept && /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept);
}

export function toTable(def: ResourceDef, objects: KubeObject[], resourceVersion: string, includeObject: string | null): object {
  const cols = columns(def);
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: cols.map(({ name, type, format, description }) => ({ name, type, format: format ?? '', description, priority: 0 })),
    rows: objects.map((o) => ({
      cells: cols.map((c) => c.cell(o)),
      object:
        includeObject === 'None'
          ? undefined
          : includeObject === 'Object'
            ? o
            : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  };
}
