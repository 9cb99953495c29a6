/**
 * A pod's volumes as the lab kubelet provides them: ConfigMaps, Secrets and
 * projected volumes (service-account token, CA bundle, downward API) written
 * into the pod's directory through the API, emptyDirs as fresh directories,
 * and hostPath volumes inside the node's own root (nodePaths().root), since
 * all lab nodes share this machine's filesystem. Each container then gets
 * its volumeMounts as bind mounts (container.ts).
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { KubeError, type KubeClient, type Obj } from '../kube.ts';
import type { Mount } from './container.ts';
import { fieldValue, type ContainerLike, type PodSpecLike } from './pod.ts';

export interface VolumeContext {
  /** The kubelet's client: the Node authorizer lets it read what its pods reference. */
  client: KubeClient;
  pod: Obj & PodSpecLike;
  /** This pod's directory; volume contents go under volumes/<name>. */
  podDir: string;
  /** The node's host filesystem root (hostPath volumes resolve inside it). */
  nodeRoot: string;
}

/** Where a volume lives on this machine, and whether it is a single file (hostPath type File*). */
export interface PreparedVolume {
  path: string;
  file: boolean;
}

type Files = Record<string, string>;

function writeFiles(dir: string, files: Files): void {
  mkdirSync(dir, { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    const full = path.join(dir, rel);
    if (!full.startsWith(dir + path.sep)) throw new Error(`volume file ${JSON.stringify(rel)} escapes its volume`);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, content, { mode: 0o644 });
  }
}

/** A ConfigMap's or Secret's keys as files (all keys, or the listed items at their paths). */
function keyFiles(data: Record<string, string>, items: Array<{ key: string; path: string }> | undefined, what: string): Files {
  if (!items?.length) return { ...data };
  const out: Files = {};
  for (const it of items) {
    if (!(it.key in data)) throw new Error(`${what} has no key ${JSON.stringify(it.key)}`);
    out[it.path] = data[it.key]!;
  }
  return out;
}

async function configMapFiles(ctx: VolumeContext, src: { name: string; items?: Array<{ key: string; path: string }>; optional?: boolean }): Promise<Files> {
  const ns = ctx.pod.metadata.namespace ?? 'default';
  try {
    const cm = await ctx.client.get({ prefix: '/api/v1', plural: 'configmaps', namespaced: true }, ns, src.name);
    return keyFiles((cm.data ?? {}) as Record<string, string>, src.items, `ConfigMap ${ns}/${src.name}`);
  } catch (e) {
    if (src.optional && e instanceof KubeError && e.code === 404) return {};
    throw new Error(`ConfigMap ${ns}/${src.name}: ${(e as Error).message}`);
  }
}

async function secretFiles(ctx: VolumeContext, src: { secretName: string; items?: Array<{ key: string; path: string }>; optional?: boolean }): Promise<Files> {
  const ns = ctx.pod.metadata.namespace ?? 'default';
  try {
    const s = await ctx.client.get({ prefix: '/api/v1', plural: 'secrets', namespaced: true }, ns, src.secretName);
    const decoded = Object.fromEntries(Object.entries((s.data ?? {}) as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    return keyFiles(decoded, src.items, `Secret ${ns}/${src.secretName}`);
  } catch (e) {
    if (src.optional && e instanceof KubeError && e.code === 404) return {};
    throw new Error(`Secret ${ns}/${src.secretName}: ${(e as Error).message}`);
  }
}

/** A bound service-account token for the pod (TokenRequest), as the kubelet fetches it. */
async function serviceAccountToken(ctx: VolumeContext, src: { path: string; expirationSeconds?: number; audience?: string }): Promise<Files> {
  const pod = ctx.pod;
  const ns = pod.metadata.namespace ?? 'default';
  const sa = pod.spec?.serviceAccountName ?? 'default';
  const res = await ctx.client.request('POST', `/api/v1/namespaces/${encodeURIComponent(ns)}/serviceaccounts/${encodeURIComponent(sa)}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: {
      audiences: src.audience ? [src.audience] : [],
      expirationSeconds: src.expirationSeconds ?? 3607,
      boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid },
    },
  });
  const token = res?.status?.token;
  if (typeof token !== 'string' || !token) throw new Error(`TokenRequest for ${ns}/${sa}: no token in the answer`);
  return { [src.path]: token };
}

function downwardFiles(pod: PodSpecLike, items: Array<{ path: string; fieldRef?: { fieldPath: string } }>): Files {
  const out: Files = {};
  for (const it of items) {
    const fp = it.fieldRef?.fieldPath;
    if (!fp) continue;
    const v = fieldValue(pod, fp);
    if (v === undefined) throw new Error(`downwardAPI field ${fp} is not provided by the lab kubelet`);
    out[it.path] = v;
  }
  return out;
}

/** hostPath types that make the path when it is missing, as the kubelet does. */
function ensureHostPath(full: string, type: string | undefined): boolean {
  switch (type ?? '') {
    case 'FileOrCreate':
      mkdirSync(path.dirname(full), { recursive: true });
      if (!existsSync(full)) writeFileSync(full, '');
      return true;
    case 'File':
    case 'Socket':
    case 'CharDevice':
    case 'BlockDevice':
      if (!existsSync(full)) throw new Error(`hostPath ${full} (type ${type}) does not exist on the node`);
      return true;
    case 'Directory':
      if (!existsSync(full)) throw new Error(`hostPath ${full} (type Directory) does not exist on the node`);
      return false;
    default:
      // DirectoryOrCreate, and "" (no check; a runtime makes a missing directory).
      mkdirSync(full, { recursive: true });
      return false;
  }
}

/** Makes every volume of the pod; returns where each one is on this machine. */
export async function prepareVolumes(ctx: VolumeContext): Promise<Map<string, PreparedVolume>> {
  const out = new Map<string, PreparedVolume>();
  for (const v of ctx.pod.spec?.volumes ?? []) {
    const dir = path.join(ctx.podDir, 'volumes', v.name);
    if (v.hostPath) {
      const full = path.join(ctx.nodeRoot, v.hostPath.path);
      out.set(v.name, { path: full, file: ensureHostPath(full, v.hostPath.type) });
    } else if (v.configMap) {
      writeFiles(dir, await configMapFiles(ctx, v.configMap));
      out.set(v.name, { path: dir, file: false });
    } else if (v.secret) {
      writeFiles(dir, await secretFiles(ctx, v.secret));
      out.set(v.name, { path: dir, file: false });
    } else if (v.projected) {
      const files: Files = {};
      for (const s of v.projected.sources ?? []) {
        if (s.serviceAccountToken) Object.assign(files, await serviceAccountToken(ctx, s.serviceAccountToken));
        else if (s.configMap) Object.assign(files, await configMapFiles(ctx, s.configMap));
        else if (s.secret) Object.assign(files, await secretFiles(ctx, { secretName: s.secret.name, items: s.secret.items, optional: s.secret.optional }));
        else if (s.downwardAPI) Object.assign(files, downwardFiles(ctx.pod, s.downwardAPI.items ?? []));
      }
      writeFiles(dir, files);
      out.set(v.name, { path: dir, file: false });
    } else if (v.emptyDir) {
      mkdirSync(dir, { recursive: true });
      out.set(v.name, { path: dir, file: false });
    } else if (v.downwardAPI) {
      writeFiles(dir, downwardFiles(ctx.pod, v.downwardAPI.items ?? []));
      out.set(v.name, { path: dir, file: false });
    } else {
      throw new Error(`volume ${v.name}: type ${Object.keys(v).filter((k) => k !== 'name').join(', ')} is not provided by the lab kubelet`);
    }
  }
  return out;
}

/** A container's volumeMounts as bind mounts; a mount of an unknown volume is an error naming it. */
export function containerMounts(c: ContainerLike, volumes: Map<string, PreparedVolume>): Array<Mount & { file: boolean }> {
  return (c.volumeMounts ?? []).map((m) => {
    const v = volumes.get(m.name);
    if (!v) throw new Error(`container ${c.name}: volumeMount ${m.name} names no volume of the pod`);
    const source = m.subPath ? path.join(v.path, m.subPath) : v.path;
    const file = m.subPath === undefined ? v.file : existsSync(source) && statSync(source).isFile();
    return { source, target: m.mountPath, readOnly: m.readOnly ?? false, file };
  });
}
