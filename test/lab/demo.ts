/**
 * `lab demo`'s workload step: create the demo objects from workloads.ts
 * through the API (409 = already there), then wait until every demo pod is
 * Ready, printing progress.
 */
import { createIfMissing, listPods, podReady, withAdmin } from './api.ts';
import type { LabSpec } from './config.ts';
import type { Obj } from './kube.ts';
import type { LabState } from './state.ts';

type KubeObject = Obj & { kind: string };

// Imported by name at run time: the module belongs to the cluster side of the lab.
const WORKLOADS_MODULE = './workloads.ts';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Creates the demo objects and waits for their pods; returns the pods' `namespace/name`. */
export async function runDemoWorkloads(state: LabState, log: (l: string) => void, limitMs = 120_000): Promise<string[]> {
  const spec: LabSpec = state.spec;
  const mod = (await import(WORKLOADS_MODULE)) as { demoWorkloads(spec: LabSpec): KubeObject[] };
  const objects = mod.demoWorkloads(spec);
  log(`demo: creating ${objects.length} objects`);
  await withAdmin(spec, async (client) => {
    for (const obj of objects) await createIfMissing(client, obj);
  });
  const wanted = objects.filter((o) => o.kind === 'Pod').map((o) => `${o.metadata.namespace ?? 'default'}/${o.metadata.name}`);
  const deadline = Date.now() + limitMs;
  let last = '';
  for (;;) {
    const pods = await listPods(spec);
    const ready = new Set(pods.filter(podReady).map((p) => `${p.metadata.namespace ?? 'default'}/${p.metadata.name}`));
    const missing = wanted.filter((w) => !ready.has(w));
    const line = `demo: ${wanted.length - missing.length}/${wanted.length} pods Ready`;
    if (line !== last) log(line);
    last = line;
    if (missing.length === 0) return wanted;
    if (Date.now() > deadline) {
      throw new Error(`demo pods not Ready after ${limitMs / 1000} s: ${missing.join(', ')} (see ${spec.stateDir}/logs/daemon.log and logs/pods/)`);
    }
    await sleep(500);
  }
}
