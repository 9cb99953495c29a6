/**
 * Adoption of a gobgpd left running by a previous agent: what it holds, read
 * back as a BgpState so that the ordinary diff turns it into the desired
 * state (sessions and advertisements that stay desired are never touched).
 *
 * gobgpd's ListPeer shows its defaults, not what was asked for, and it has
 * no way to list our policies as we wrote them; so the service records the
 * fingerprints of what it applied in `<socket>.state.json`, and an adopting
 * service trusts that record for peers, global config and policies.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tryFamilyOf, type BgpGlobal, type Logger } from '@krouter/sdk';
import type { GobgpApi } from './client.ts';
import { decodePath, decodePeerState, encodeGlobal, encodePath, familyToApi, pathKey } from './encode.ts';
import { emptyState, statePolicies, type BgpState } from './desired.ts';
import type { PolicyDirection } from './policy.ts';

/** What `<socket>.state.json` records of the state applied to the running gobgpd. */
export interface AppliedRecord {
  global?: string;
  peers: Record<string, string>;
  policies?: Record<PolicyDirection, string>;
}

export class AppliedRecordFile {
  constructor(
    readonly file: string,
    private readonly log: Logger,
  ) {}

  read(): AppliedRecord {
    try {
      const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<AppliedRecord>;
      return {
        global: typeof parsed.global === 'string' ? parsed.global : undefined,
        peers: { ...(parsed.peers ?? {}) },
        policies: parsed.policies && typeof parsed.policies.import === 'string' ? parsed.policies : undefined,
      };
    } catch {
      return { peers: {} };
    }
  }

  /** Records what gobgpd now holds, for a later agent that adopts it. */
  write(state: BgpState): void {
    const record: AppliedRecord = {
      global: state.global?.fingerprint,
      peers: Object.fromEntries([...state.peers].map(([a, p]) => [a, p.fingerprint])),
      policies: state.policies.fingerprint,
    };
    try {
      const tmp = `${this.file}.tmp`;
      writeFileSync(tmp, JSON.stringify(record), { mode: 0o600 });
      renameSync(tmp, this.file);
    } catch (e) {
      this.log.warn('cannot record the applied BGP state', { file: this.file, error: (e as Error).message });
    }
  }

  remove(): void {
    rmSync(this.file, { force: true });
  }
}

/**
 * Whether a running gobgpd's global config is the desired one: GetBgp shows
 * ASN, router ID and listeners; families and graceful restart are compared
 * through the fingerprint recorded by the agent that configured it.
 */
export async function runningGlobal(client: GobgpApi, want: BgpGlobal, wantFingerprint: string, recorded: AppliedRecord): Promise<'none' | 'same' | 'different'> {
  const res = await client.unary<{ global?: Record<string, any> }>('GetBgp', {});
  const running = res.global;
  if (!running || !Number(running.asn)) return 'none';
  const encoded = encodeGlobal(want);
  // gobgpd fills in its default listeners when none are given.
  const sorted = (a: unknown) => {
    const list = (a as string[] | undefined) ?? [];
    return (list.length ? [...list] : ['0.0.0.0', '::']).sort().join(',');
  };
  const same =
    Number(running.asn) === encoded.asn &&
    running.router_id === encoded.router_id &&
    Number(running.listen_port) === encoded.listen_port &&
    sorted(running.listen_addresses) === sorted(encoded.listen_addresses) &&
    (recorded.global === undefined || recorded.global === wantFingerprint);
  return same ? 'same' : 'different';
}

/**
 * What an adopted gobgpd holds, as a BgpState: its peers (with the recorded
 * fingerprint, '' when unknown so that a desired peer is updated), its
 * locally originated paths (compared attribute by attribute), and the
 * recorded policies (unknown without a record, so the desired ones are set).
 */
export async function readHeld(client: GobgpApi, global: { global: BgpGlobal; fingerprint: string }, recorded: AppliedRecord): Promise<BgpState> {
  const state = emptyState();
  state.global = global;
  for (const { peer } of await client.collect<{ peer: Record<string, unknown> }>('ListPeer', {})) {
    const decoded = decodePeerState(peer);
    if (!decoded.address) continue;
    state.peers.set(decoded.address, {
      peer: { address: decoded.address, asn: decoded.asn, families: Object.keys(decoded.families) as BgpGlobal['families'] },
      fingerprint: recorded.peers[decoded.address] ?? '',
    });
  }
  for (const family of new Set(global.global.families)) {
    const items = await client.collect<{ destination: Record<string, any> }>('ListPath', { table_type: 'GLOBAL', name: '', family: familyToApi(family) });
    for (const { destination } of items) {
      for (const listed of (destination?.paths ?? []) as Array<Record<string, any>>) {
        const route = decodePath(listed);
        if (!route || route.source !== undefined || route.withdrawal || !route.nextHop) continue;
        const path = { prefix: pathKey(route).prefix, nextHop: route.nextHop, extendedNexthop: tryFamilyOf(route.nextHop) !== route.family };
        try {
          state.paths.set(path.prefix, { path, encoded: encodePath(path), listed });
        } catch {
          // A path we could not have originated: leave it to whoever did.
        }
      }
    }
  }
  state.policies = { ...statePolicies({}, new Map()), fingerprint: recorded.policies };
  return state;
}
