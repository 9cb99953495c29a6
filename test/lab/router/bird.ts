/** BIRD 2 configuration of the lab router (pure: model -> text). */
import type { Family } from '../config.ts';
import type { RouterModel } from './model.ts';

const channel = (f: Family) => (f === 'ipv4' ? 'ipv4' : 'ipv6');

export function renderBirdConfig(m: RouterModel): string {
  const out: string[] = [
    '# krouter lab router (BIRD 2), written by lab up',
    `router id ${m.routerId};`,
    'log stderr all;',
    '',
    'protocol device { scan time 5; }',
    '',
  ];
  for (const f of m.families) {
    const n = f === 'ipv4' ? 4 : 6;
    // Originated routes are unreachable in BIRD's table (never exported to the
    // kernel); over BGP they carry the router itself as next hop.
    out.push(`protocol static originate${n} {`, `  ${channel(f)};`);
    for (const prefix of m.originate[f]) out.push(`  route ${prefix} unreachable;`);
    out.push('}', '');
    // The kernel gets learned BGP routes only when asked (pod egress without NAT).
    out.push(
      `protocol kernel kernel${n} {`,
      `  ${channel(f)} {`,
      '    import none;',
      m.kernelRoutes ? '    export where source = RTS_BGP;' : '    export none;',
      '  };',
      '}',
      '',
    );
  }
  for (const s of m.sessions) {
    out.push(
      `protocol bgp ${s.name} {`,
      `  description "${s.node} ${s.family}";`,
      `  local ${s.localAddress} as ${m.asn};`,
      `  neighbor ${s.neighbor} as ${s.neighborAsn};`,
      // Lab timings: retry quickly while the node's gobgpd is not up yet.
      '  connect delay time 1;',
      '  connect retry time 3;',
      '  error wait time 1, 5;',
      `  ${channel(s.family)} {`,
      '    import all;',
      '    export where source = RTS_STATIC;',
      '  };',
      '}',
      '',
    );
  }
  return out.join('\n');
}
