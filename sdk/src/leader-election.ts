import type { Logger } from './services/basics.ts';
import { apiErrorKind, type KubernetesWriter, type LeaseRecord } from './services/informers.ts';

/**
 * Leader election over a coordination.k8s.io/v1 Lease, for work one agent
 * of the cluster must do alone (allocating addresses, writing statuses):
 *
 * - a candidate takes the Lease when there is none, when it has no holder,
 *   or when the holder has not renewed it for the Lease's duration, as this
 *   candidate's own clock measured since it last saw the Lease change (no
 *   clock comparison between nodes);
 * - the holder renews every retry period and counts itself leader only while
 *   its last successful renewal started less than `renewDeadlineMs` ago, which
 *   is shorter than the duration the others wait: a holder that cannot renew
 *   stops acting before anyone may take over;
 * - every write carries the resourceVersion it read, so two candidates
 *   racing for the same Lease cannot both win;
 * - stop() hands the Lease back (empty holder), so a standby takes over at its
 *   next try instead of waiting for the Lease to expire.
 */
export interface LeaderElectionOptions {
  api: Pick<KubernetesWriter, 'getLease' | 'createLease' | 'updateLease'>;
  namespace: string;
  name: string;
  /** This candidate (the node name). */
  identity: string;
  logger: Logger;
  /** How long others wait after the last renewal they saw. Default 15 s. */
  leaseDurationMs?: number;
  /** How long the holder acts without a successful renewal. Default 10 s; must be below leaseDurationMs. */
  renewDeadlineMs?: number;
  /** Between tries (candidates) and renewals (the holder). Default 2 s. */
  retryPeriodMs?: number;
  /** Called when this candidate becomes or stops being the leader. */
  onChange?: (leading: boolean) => void;
  /** Monotonic milliseconds (tests drive it). */
  now?: () => number;
  /** Wall clock for the Lease's times. */
  wallClock?: () => Date;
}

export interface LeaderElector {
  /** True while this candidate holds the Lease and renewed it within the renew deadline. */
  isLeader(): boolean;
  /** The holder as last seen ('' or undefined: nobody). */
  holder(): string | undefined;
  /** One acquire-or-renew attempt; resolves whether this candidate leads afterwards. */
  tryAcquireOrRenew(): Promise<boolean>;
  /** Tries at once, then every retry period, until stop(). */
  start(): void;
  /** Stops trying; hands the Lease back when holding it. */
  stop(): Promise<void>;
}

/** `2026-01-02T03:04:05.123456Z`: the Lease's MicroTime text (the API server wants six fraction digits). */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function createLeaderElector(options: LeaderElectionOptions): LeaderElector {
  const leaseDurationMs = options.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
  const retryPeriodMs = options.retryPeriodMs ?? 2_000;
  if (!(renewDeadlineMs < leaseDurationMs)) throw new Error('leader election: renewDeadlineMs must be shorter than leaseDurationMs');
  if (!(retryPeriodMs < renewDeadlineMs)) throw new Error('leader election: retryPeriodMs must be shorter than renewDeadlineMs');
  const now = options.now ?? (() => performance.now());
  const wall = options.wallClock ?? (() => new Date());
  const { api, namespace, name, identity, logger } = options;
  const where = `${namespace}/${name}`;

  /** The Lease as last seen, and when (our clock) it last changed. */
  let observed: LeaseRecord | undefined;
  let observedAt = 0;
  /** Start of the last successful acquire or renew (our clock); undefined when not holding. */
  let renewedAt: number | undefined;
  let leading = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<boolean> | undefined;
  let stopped = false;

  const setLeading = (value: boolean) => {
    if (value === leading) return;
    leading = value;
    logger.info(value ? 'leader election: became the leader' : 'leader election: no longer the leader', { lease: where, identity });
    options.onChange?.(value);
  };

  const isLeader = () => leading && renewedAt !== undefined && now() - renewedAt < renewDeadlineMs;

  const observe = (lease: LeaseRecord | undefined) => {
    if (lease?.resourceVersion !== observed?.resourceVersion || !lease !== !observed) observedAt = now();
    observed = lease;
  };

  const record = (base: LeaseRecord | undefined, started: Date): LeaseRecord => {
    const taking = base?.holderIdentity !== identity;
    return {
      namespace,
      name,
      ...(base?.resourceVersion ? { resourceVersion: base.resourceVersion } : {}),
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
      acquireTime: taking || !base?.acquireTime ? microTime(started) : base.acquireTime,
      renewTime: microTime(started),
      leaseTransitions: (base?.leaseTransitions ?? 0) + (taking && base?.holderIdentity ? 1 : 0),
    };
  };

  const attempt = async (): Promise<boolean> => {
    const start = now();
    const started = wall();
    try {
      const current = await api.getLease(namespace, name);
      observe(current);
      if (!current) {
        observe(await api.createLease(record(undefined, started)));
        renewedAt = start;
        setLeading(true);
        return true;
      }
      const holder = current.holderIdentity ?? '';
      const durationMs = (current.leaseDurationSeconds ?? leaseDurationMs / 1000) * 1000;
      const expired = now() - observedAt >= durationMs;
      if (holder !== '' && holder !== identity && !expired) {
        renewedAt = undefined;
        setLeading(false);
        return false;
      }
      if (holder !== identity && holder !== '') logger.info('leader election: the lease expired, taking it over', { lease: where, from: holder });
      observe(await api.updateLease(record(current, started)));
      renewedAt = start;
      setLeading(true);
      return true;
    } catch (err) {
      const kind = apiErrorKind(err);
      // Lost a race for the Lease: someone else wrote it first; the next try reads it again.
      if (kind !== 'conflict' && kind !== 'already-exists') logger.warn('leader election: could not read or write the lease', { lease: where, error: (err as Error).message });
      if (!isLeader()) setLeading(false);
      return isLeader();
    }
  };

  const tick = async () => {
    timer = undefined;
    if (stopped) return;
    running = attempt();
    await running;
    running = undefined;
    // A holder past its deadline stops acting even if its tries keep failing.
    if (leading && !isLeader()) setLeading(false);
    if (stopped) return;
    timer = setTimeout(() => void tick(), retryPeriodMs * (leading ? 1 : 0.9 + Math.random() * 0.2));
    timer.unref?.();
  };

  return {
    isLeader,
    holder: () => observed?.holderIdentity,
    tryAcquireOrRenew: attempt,
    start() {
      if (timer || running || stopped) return;
      void tick();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (running) await running;
      if (!isLeader() || !observed) {
        setLeading(false);
        return;
      }
      setLeading(false);
      renewedAt = undefined;
      try {
        const started = microTime(wall());
        observe(
          await api.updateLease({
            ...observed,
            holderIdentity: '',
            leaseDurationSeconds: 1,
            acquireTime: started,
            renewTime: started,
          }),
        );
        logger.info('leader election: lease handed back', { lease: where });
      } catch (err) {
        logger.warn('leader election: could not hand the lease back; it expires by itself', { lease: where, error: (err as Error).message });
      }
    },
  };
}
