/**
 * A gobgpd API double for unit tests of the Gobgp service: it keeps global
 * config, peers, local paths and policies the way gobgpd does, records every
 * RPC that changes them, and stands in for the supervisor, so a test can
 * start, restart (empty again) or adopt (state kept) "gobgpd" at will.
 */
import type { GobgpApi, WatchHandle } from '../../core/services/gobgp/client.ts';
import type { GobgpdProcess } from '../../core/services/gobgp/index.ts';
import type { ReadyInfo, SupervisorOptions } from '../../core/services/gobgp/supervisor.ts';

/** RPCs that read; everything else counts as a change. */
const READS = new Set(['GetBgp', 'ListPeer', 'ListPath']);

export interface RecordedCall {
  rpc: string;
  request: Record<string, any>;
}

export class FakeGobgpd implements GobgpApi {
  global: Record<string, any> | undefined;
  readonly peers = new Map<string, Record<string, any>>();
  /** Local paths by "afi nlri-prefix/len". */
  readonly paths = new Map<string, Record<string, any>>();
  policies: Record<string, any> | undefined;
  /** Changing RPCs, in order. */
  calls: RecordedCall[] = [];
  private supervisorOptions?: SupervisorOptions;
  private pid = 1000;

  // ------------------------------------------------------------- the API

  async unary<Res = Record<string, unknown>>(rpc: string, request: Record<string, any>): Promise<Res> {
    if (!READS.has(rpc)) this.calls.push({ rpc, request: structuredClone(request) });
    switch (rpc) {
      case 'GetBgp':
        return { global: this.global ?? { asn: 0 } } as Res;
      case 'StartBgp':
        this.global = request.global;
        break;
      case 'StopBgp':
        this.global = undefined;
        this.peers.clear();
        this.paths.clear();
        break;
      case 'AddPeer':
      case 'UpdatePeer':
        this.peers.set(request.peer.conf.neighbor_address, request.peer);
        break;
      case 'DeletePeer':
        this.peers.delete(request.address);
        break;
      case 'AddPath':
        this.paths.set(FakeGobgpd.pathKey(request.path), request.path);
        break;
      case 'DeletePath':
        this.paths.delete(FakeGobgpd.pathKey(request.path));
        break;
      case 'SetPolicies':
        this.policies = request;
        break;
    }
    return {} as Res;
  }

  async collect<Item = Record<string, unknown>>(rpc: string, request: Record<string, any>): Promise<Item[]> {
    if (rpc === 'ListPeer') return [...this.peers.values()].map((peer) => ({ peer: { conf: peer.conf, state: { neighbor_address: peer.conf.neighbor_address } } }) as Item);
    if (rpc === 'ListPath') {
      const paths = [...this.paths.values()].filter((p) => p.family.afi === request.family.afi);
      return paths.map((p) => ({ destination: { paths: [p] } }) as Item);
    }
    return [];
  }

  stream(): WatchHandle {
    return { cancel: () => undefined };
  }

  close(): void {}

  private static pathKey(path: Record<string, any>): string {
    return `${path.family.afi} ${path.nlri.prefix}/${path.nlri.prefix_len}`;
  }

  // ------------------------------------------------------------- the process

  /** The supervisor factory for GobgpServiceOptions.supervisor. */
  readonly supervisor = (opts: SupervisorOptions): GobgpdProcess => {
    this.supervisorOptions = opts;
    return {
      start: async () => {
        const adopted = this.global !== undefined;
        await this.ready({ pid: this.pid, restart: false, adopted, previousState: false });
      },
      stop: async () => {
        this.global = undefined;
        this.peers.clear();
        this.paths.clear();
      },
      get pid() {
        return 1000;
      },
    };
  };

  private async ready(info: ReadyInfo): Promise<void> {
    const result = await this.supervisorOptions!.onReady(info);
    if (result === 'replace') throw new Error('the fake does not replace an adopted gobgpd');
  }

  /** gobgpd dies and comes back empty; resolves when the service has replayed. */
  async restart(): Promise<void> {
    this.supervisorOptions!.onExit?.({ pid: this.pid, code: null, signal: 'SIGKILL' });
    this.global = undefined;
    this.peers.clear();
    this.paths.clear();
    this.policies = undefined;
    this.pid++;
    await this.ready({ pid: this.pid, restart: true, adopted: false, previousState: true });
  }

  /** The changing RPCs since the last take, by name (and forgets them). */
  take(): string[] {
    const out = this.calls.map((c) => c.rpc);
    this.calls = [];
    return out;
  }
}
