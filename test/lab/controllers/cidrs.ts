/**
 * Pure CIDR arithmetic for the lab controllers: splitting a cluster range into
 * per-node subnets and handing out single addresses from a service range.
 */
import ipaddr from 'ipaddr.js';
import { parseCidr, parseIP, type Family } from '../../../sdk/src/families.ts';

const bitsOf = (family: Family): number => (family === 'ipv4' ? 32 : 128);

export function ipToBigInt(ip: string): bigint {
  let n = 0n;
  for (const b of ipaddr.parse(ip).toByteArray()) n = (n << 8n) | BigInt(b);
  return n;
}

export function bigIntToIp(n: bigint, family: Family): string {
  const len = bitsOf(family) / 8;
  const bytes: number[] = new Array(len);
  for (let i = len - 1; i >= 0; i--) {
    bytes[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

/** Splits `cluster` into subnets of `maskSize` bits and allocates them in order, lowest free first. */
export class SubnetAllocator {
  readonly family: Family;
  private readonly base: bigint;
  private readonly clusterBits: number;
  private readonly count: bigint;
  private readonly used = new Set<string>();

  constructor(readonly cluster: string, readonly maskSize: number) {
    const c = parseCidr(cluster);
    this.family = c.family;
    if (!Number.isInteger(maskSize) || maskSize < c.prefixLength || maskSize > bitsOf(c.family)) {
      throw new Error(`pod CIDR mask size ${maskSize} does not fit cluster CIDR ${cluster} (must be ${c.prefixLength}..${bitsOf(c.family)})`);
    }
    this.base = ipToBigInt(c.network);
    this.clusterBits = c.prefixLength;
    this.count = 1n << BigInt(maskSize - c.prefixLength);
  }

  subnetAt(index: bigint): string {
    const hostBits = BigInt(bitsOf(this.family) - this.maskSize);
    return `${bigIntToIp(this.base + (index << hostBits), this.family)}/${this.maskSize}`;
  }

  /** True when `cidr` is one of this allocator's subnets (same family, inside, right size, aligned). */
  contains(cidr: string): boolean {
    let c;
    try {
      c = parseCidr(cidr);
    } catch {
      return false;
    }
    if (c.family !== this.family || c.prefixLength !== this.maskSize) return false;
    const net = ipToBigInt(c.network);
    const span = 1n << BigInt(bitsOf(this.family) - this.clusterBits);
    return net >= this.base && net < this.base + span;
  }

  /** Marks a subnet taken (e.g. one a node already has); false when it is not ours. */
  occupy(cidr: string): boolean {
    if (!this.contains(cidr)) return false;
    this.used.add(parseCidr(cidr).text);
    return true;
  }

  release(cidr: string): void {
    try {
      this.used.delete(parseCidr(cidr).text);
    } catch {
      /* not a CIDR: nothing was held */
    }
  }

  allocate(): string {
    for (let i = 0n; i < this.count; i++) {
      const s = this.subnetAt(i);
      if (!this.used.has(s)) {
        this.used.add(s);
        return s;
      }
    }
    throw new Error(`no free /${this.maskSize} left in ${this.cluster}`);
  }

  get size(): number {
    return this.used.size;
  }
}

/**
 * Hands out single IPs of a service range. Like Kubernetes, the network
 * address (and for IPv4 the broadcast address) is never given out.
 */
export class IpAllocator {
  readonly family: Family;
  private readonly first: bigint;
  private readonly last: bigint;
  private readonly used = new Set<string>();
  private next: bigint;

  constructor(readonly range: string) {
    const c = parseCidr(range);
    this.family = c.family;
    const base = ipToBigInt(c.network);
    const size = 1n << BigInt(bitsOf(c.family) - c.prefixLength);
    this.first = base + 1n;
    this.last = c.family === 'ipv4' ? base + size - 2n : base + size - 1n;
    this.next = this.first;
  }

  /** Why `ip` cannot be taken, or undefined when it is free and in range. */
  problem(ip: string): 'not-in-range' | 'allocated' | undefined {
    let n: bigint;
    try {
      n = ipToBigInt(parseIP(ip, this.family).address);
    } catch {
      return 'not-in-range';
    }
    if (n < this.first || n > this.last) return 'not-in-range';
    return this.used.has(bigIntToIp(n, this.family)) ? 'allocated' : undefined;
  }

  /** Takes a specific address; throws with the reason Kubernetes gives. */
  allocateSpecific(ip: string): string {
    const p = this.problem(ip);
    if (p === 'not-in-range') throw new Error(`provided IP is not in the valid range. The range of valid IPs is ${this.range}`);
    if (p === 'allocated') throw new Error('provided IP is already allocated');
    const canonical = parseIP(ip).address;
    this.used.add(canonical);
    return canonical;
  }

  /** Takes the next free address after the last one handed out (wrapping), like a rotating allocator. */
  allocateNext(): string {
    const span = this.last - this.first + 1n;
    for (let i = 0n; i < span; i++) {
      const n = this.first + ((this.next - this.first + i) % span);
      const ip = bigIntToIp(n, this.family);
      if (!this.used.has(ip)) {
        this.used.add(ip);
        this.next = n + 1n > this.last ? this.first : n + 1n;
        return ip;
      }
    }
    throw new Error(`range is full: no free IP left in ${this.range}`);
  }

  /** Marks an address taken without checks (adopting what the API server already holds). */
  occupy(ip: string): void {
    try {
      this.used.add(parseIP(ip, this.family).address);
    } catch {
      /* not ours */
    }
  }

  release(ip: string): void {
    try {
      this.used.delete(parseIP(ip, this.family).address);
    } catch {
      /* not ours */
    }
  }

  has(ip: string): boolean {
    try {
      return this.used.has(parseIP(ip, this.family).address);
    } catch {
      return false;
    }
  }
}
