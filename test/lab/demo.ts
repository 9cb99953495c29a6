/**
 * `lab demo`'s workload step: create the demo objects from workloads.ts
 * through the API (409 = already there), then wait until every demo pod is
 * Ready, printing progress.
 */
import { apiRequest, ApiError, listPods, podReady } from './api.ts';
import { apiServerUrl, type LabSpec } from './config.ts';
import { resourceByKind } from './apiserver/resources.ts';
import type { LabState } from './state.ts';

interface KubeObject {
  apiVersion?: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

/** REST collection path of an object, from the API server's own resource table. */
export function collectionPath(obj: KubeObject): string {
  const def = resourceByKind(obj.kind);
  if (!def) throw new Error(`${obj.kind} ${obj.metadata.name}: kind not served by the lab API server`);
  const base = def.group ? `/apis/${def.group}/${def.version}` : `/api/${def.version}`;
  return def.namespaced ? `${base}/namespaces/${obj.metadata.namespace ?? 'default'}/${def.plural}` : `${base}/${def.plural}`;
}

// Imported by name at run time: the module belongs to the cluster side of the lab.
const WORKLOADS_MODULE = './workloads.ts';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Creates the demo objects and waits for their pods; returns the pods' `namespace/name`. */
export async function runDemoWorkloads(state: LabState, log: (l: string) => void, limitMs = 120_000): Promise<string[]> {
  const spec: LabSpec = state.spec;
  const apiUrl = apiServerUrl(spec);
  const mod = (await import(WORKLOADS_MODULE)) as { demoWorkloads(spec: LabSpec): KubeObject[] };
  const objects = mod.demoWorkloads(spec);
  log(`demo: creating ${objects.length} objects`);
  for (const obj of objects) {
    try {
      await apiRequest(apiUrl, 'POST', collectionPath(obj), obj);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 409)) throw err;
    }
  }
  const wanted = objects.filter((o) => o.kind === 'Pod').map((o) => `${o.metadata.namespace ?? 'default'}/${o.metadata.name}`);
  const deadline = Date.now() + limitMs;
  let last = '';
  for (;;) {
    const pods = await listPods(apiUrl);
    const ready = new Set(pods.filter(podReady).map((p) => `${p.metadata.namespace ?? 'default'}/${p.metadata.name}`));
    const missing = wanted.filter((w) => !ready.has(w));
    const line = `demo: ${wanted.length - missing.length}/${wanted.length} pods Ready`;
    if (line !== last) log(line);
    last = line;
    if (missing.length === 0) return wanted;
    if (Date.now() > deadline) {
      throw new Error(`demo pods not Ready after ${limitMs / 1000} s: ${missing.join(', ')} (see ${spec.stateDir}/logs/daemon.log)`);
    }
    await sleep(500);
  }
}
