import { apiErrorKind, type KubernetesWriter, type V1Service } from '@krouter/sdk';

export type WriteResult = { result: 'written'; stored: V1Service } | { result: 'stale' | 'gone' } | { result: 'failed'; error: Error };

/**
 * One status write. A Service that changed since the decision (`conflict`)
 * or went away (`not-found`) is not an error: the informer brings the new
 * version and the next sync decides again.
 */
export async function writeStatus(api: Pick<KubernetesWriter, 'updateServiceStatus'>, body: V1Service): Promise<WriteResult> {
  try {
    return { result: 'written', stored: await api.updateServiceStatus(body) };
  } catch (err) {
    const kind = apiErrorKind(err);
    if (kind === 'conflict') return { result: 'stale' };
    if (kind === 'not-found') return { result: 'gone' };
    return { result: 'failed', error: err instanceof Error ? err : new Error(String(err)) };
  }
}
