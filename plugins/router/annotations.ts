import { parse as parseYaml } from 'yaml';

/** kube-router's node annotations, kept with their meaning. */
export const ANNOTATIONS = {
  nodeAsn: 'kube-router.io/node.asn',
  rrServer: 'kube-router.io/rr.server',
  rrClient: 'kube-router.io/rr.client',
  peers: 'kube-router.io/peers',
  peerIps: 'kube-router.io/peer.ips',
  peerAsns: 'kube-router.io/peer.asns',
  peerPasswords: 'kube-router.io/peer.passwords',
  peerPorts: 'kube-router.io/peer.ports',
  peerLocalIps: 'kube-router.io/peer.localips',
  prependAs: 'kube-router.io/path-prepend.as',
  prependRepeat: 'kube-router.io/path-prepend.repeat-n',
  communities: 'kube-router.io/node.bgp.communities',
  localAddresses: 'kube-router.io/bgp-local-addresses',
  svcAdvertiseClusterIP: 'kube-router.io/service.advertise.clusterip',
  svcAdvertiseExternalIP: 'kube-router.io/service.advertise.externalip',
  svcAdvertiseLoadBalancerIP: 'kube-router.io/service.advertise.loadbalancerip',
  /** Deprecated in kube-router for advertise.loadbalancerip=false; the service proxy does not serve these IPs either. */
  svcSkipLbIps: 'kube-router.io/service.skiplbips',
} as const;

/** A per-node external peer as written in annotations (address not yet validated). */
export interface AnnotatedPeer {
  address: string;
  asn: number;
  port?: number;
  password?: string;
  localAddress?: string;
}

export interface NodeBgpSettings {
  asn?: number;
  rrServer?: string;
  rrClient?: string;
  peers: AnnotatedPeer[];
  prepend?: { asn: number; repeat: number };
  communities: string[];
  localAddresses: string[];
  /** One line per malformed annotation: `node X: annotation K: reason`. */
  errors: string[];
  /**
   * The subset of `errors` about annotations that shape the cluster's
   * sessions (ASN, route reflector): every node reports them, not only the
   * node that carries them.
   */
  topologyErrors: string[];
}

/** Annotations whose errors every node reports (see topologyErrors). */
const TOPOLOGY_ANNOTATIONS: ReadonlySet<string> = new Set([ANNOTATIONS.nodeAsn, ANNOTATIONS.rrServer, ANNOTATIONS.rrClient]);

export function parseAsn(text: unknown): number | undefined {
  const s = String(text).trim();
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n >= 1 && n <= 4294967295 ? n : undefined;
}

function list(text: string | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((s) => s.trim());
}

function decodePassword(b64: string): string | undefined {
  if (!b64) return undefined;
  if (!/^[A-Za-z0-9+/]+=*$/.test(b64)) throw new Error('password is not base64');
  return Buffer.from(b64, 'base64').toString('utf8').replace(/\n$/, '');
}

/** A standard community: "65000:100" or a 32-bit decimal. */
export function isCommunity(text: string): boolean {
  const m = /^(\d+):(\d+)$/.exec(text);
  if (m) return Number(m[1]) <= 65535 && Number(m[2]) <= 65535;
  return /^\d+$/.test(text) && Number(text) <= 4294967295;
}

/** Reads kube-router's BGP annotations of a node. Pure; never throws. */
export function readNodeBgpSettings(nodeName: string, annotations: Record<string, string> | undefined): NodeBgpSettings {
  const a = annotations ?? {};
  const errors: string[] = [];
  const topologyErrors: string[] = [];
  const err = (key: string, reason: string) => {
    const line = `node ${nodeName}: annotation ${key}: ${reason}`;
    errors.push(line);
    if (TOPOLOGY_ANNOTATIONS.has(key)) topologyErrors.push(line);
  };
  const out: NodeBgpSettings = { peers: [], communities: [], localAddresses: [], errors, topologyErrors };

  if (a[ANNOTATIONS.nodeAsn] !== undefined) {
    const asn = parseAsn(a[ANNOTATIONS.nodeAsn]);
    if (asn === undefined) err(ANNOTATIONS.nodeAsn, `ASN ${JSON.stringify(a[ANNOTATIONS.nodeAsn])} is not in 1..4294967295`);
    else out.asn = asn;
  }
  if (a[ANNOTATIONS.rrServer]) out.rrServer = a[ANNOTATIONS.rrServer]!.trim();
  if (a[ANNOTATIONS.rrClient]) out.rrClient = a[ANNOTATIONS.rrClient]!.trim();

  // The YAML form wins over the older single-key lists.
  if (a[ANNOTATIONS.peers] !== undefined) {
    out.peers = readPeersYaml(a[ANNOTATIONS.peers]!, (reason) => err(ANNOTATIONS.peers, reason));
  } else if (a[ANNOTATIONS.peerIps] !== undefined) {
    const ips = list(a[ANNOTATIONS.peerIps]);
    const asns = list(a[ANNOTATIONS.peerAsns]);
    const passwords = list(a[ANNOTATIONS.peerPasswords]);
    const ports = list(a[ANNOTATIONS.peerPorts]);
    const locals = list(a[ANNOTATIONS.peerLocalIps]);
    if (asns.length !== ips.length) {
      err(ANNOTATIONS.peerAsns, `${asns.length} ASNs for ${ips.length} peer IPs`);
    } else {
      ips.forEach((ip, i) => {
        const asn = parseAsn(asns[i]);
        if (asn === undefined) return err(ANNOTATIONS.peerAsns, `ASN ${JSON.stringify(asns[i])} of peer ${ip} is not in 1..4294967295`);
        const peer: AnnotatedPeer = { address: ip, asn };
        if (ports[i]) {
          const p = Number(ports[i]);
          if (!Number.isInteger(p) || p < 1 || p > 65535) return err(ANNOTATIONS.peerPorts, `port ${JSON.stringify(ports[i])} of peer ${ip}`);
          peer.port = p;
        }
        try {
          const pw = decodePassword(passwords[i] ?? '');
          if (pw) peer.password = pw;
        } catch (e) {
          return err(ANNOTATIONS.peerPasswords, `peer ${ip}: ${(e as Error).message}`);
        }
        if (locals[i]) peer.localAddress = locals[i];
        out.peers.push(peer);
      });
    }
  }

  if (a[ANNOTATIONS.prependAs] !== undefined) {
    const asn = parseAsn(a[ANNOTATIONS.prependAs]);
    const repeat = Number(a[ANNOTATIONS.prependRepeat] ?? '1');
    if (asn === undefined) err(ANNOTATIONS.prependAs, `ASN ${JSON.stringify(a[ANNOTATIONS.prependAs])} is not in 1..4294967295`);
    else if (!Number.isInteger(repeat) || repeat < 1 || repeat > 32) err(ANNOTATIONS.prependRepeat, 'must be 1..32');
    else out.prepend = { asn, repeat };
  }
  for (const c of list(a[ANNOTATIONS.communities]).filter(Boolean)) {
    if (isCommunity(c)) out.communities.push(c);
    else err(ANNOTATIONS.communities, `${JSON.stringify(c)} is not a community (ASN:value or a decimal)`);
  }
  out.localAddresses = list(a[ANNOTATIONS.localAddresses]).filter(Boolean);
  return out;
}

function readPeersYaml(text: string, err: (reason: string) => void): AnnotatedPeer[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    err(`not YAML: ${(e as Error).message.split('\n')[0]}`);
    return [];
  }
  if (!Array.isArray(doc)) {
    err('must be a YAML list of {remoteip, remoteasn, password?, remoteport?, localip?}');
    return [];
  }
  const peers: AnnotatedPeer[] = [];
  doc.forEach((entry, i) => {
    if (typeof entry !== 'object' || entry === null) return err(`entry ${i} is not a mapping`);
    const e = entry as Record<string, unknown>;
    const known = new Set(['remoteip', 'remoteasn', 'password', 'remoteport', 'localip']);
    const unknown = Object.keys(e).filter((k) => !known.has(k));
    if (unknown.length) return err(`entry ${i}: unknown key ${unknown.join(', ')}`);
    if (typeof e.remoteip !== 'string') return err(`entry ${i}: remoteip missing`);
    const asn = parseAsn(e.remoteasn);
    if (asn === undefined) return err(`entry ${i} (${e.remoteip}): remoteasn ${JSON.stringify(e.remoteasn)} is not in 1..4294967295`);
    const peer: AnnotatedPeer = { address: e.remoteip, asn };
    if (e.remoteport !== undefined) {
      const p = Number(e.remoteport);
      if (!Number.isInteger(p) || p < 1 || p > 65535) return err(`entry ${i} (${e.remoteip}): remoteport out of range`);
      peer.port = p;
    }
    if (e.password !== undefined) {
      try {
        const pw = decodePassword(String(e.password));
        if (pw) peer.password = pw;
      } catch (x) {
        return err(`entry ${i} (${e.remoteip}): ${(x as Error).message}`);
      }
    }
    if (typeof e.localip === 'string') peer.localAddress = e.localip;
    peers.push(peer);
  });
  return peers;
}
