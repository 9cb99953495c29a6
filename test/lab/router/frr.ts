/**
 * FRR bgpd configuration of the lab router (pure: model -> text). bgpd runs
 * without zebra (-Z), so it cannot install routes into the kernel; the lab
 * refuses `routerKernelRoutes` with FRR.
 */
import type { RouterModel } from './model.ts';

export function renderFrrConfig(m: RouterModel): string {
  const out: string[] = [
    '! krouter lab router (FRR bgpd), written by lab up',
    'frr defaults traditional',
    'hostname krlab-router',
    'log stdout informational',
    '!',
    `router bgp ${m.asn}`,
    ` bgp router-id ${m.routerId}`,
    ' no bgp ebgp-requires-policy',
    ' no bgp default ipv4-unicast',
    // Without zebra nothing is in the RIB; originate the prefixes anyway.
    ' no bgp network import-check',
  ];
  for (const s of m.sessions) {
    out.push(
      ` neighbor ${s.neighbor} remote-as ${s.neighborAsn}`,
      ` neighbor ${s.neighbor} description ${s.node}-${s.family}`,
      ` neighbor ${s.neighbor} update-source ${s.localAddress}`,
      ` neighbor ${s.neighbor} timers connect 1`,
    );
  }
  for (const f of m.families) {
    out.push(' !', ` address-family ${f === 'ipv4' ? 'ipv4' : 'ipv6'} unicast`);
    for (const prefix of m.originate[f]) out.push(`  network ${prefix}`);
    for (const s of m.sessions.filter((x) => x.family === f)) out.push(`  neighbor ${s.neighbor} activate`);
    out.push(' exit-address-family');
  }
  out.push('!', '');
  return out.join('\n');
}
