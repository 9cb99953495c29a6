/** A lab spec for the lab's pure parts (no state dir or binary is touched): BIRD, CNI and router on, nodes node-1.. */
import { nodeNames, type LabFamily, type LabSpec } from '../lab/config.ts';

export function labSpecFixture(family: LabFamily = 'dual', nodes = 2, extra: Partial<LabSpec> = {}): LabSpec {
  return {
    family,
    nodes: nodeNames(nodes),
    router: 'bird',
    stateDir: '/run/krlab-test',
    repoRoot: '/repo',
    krouterBin: '/repo/dist/krouter',
    plugins: { cni: true, router: true, serviceProxy: false, firewall: false },
    routerKernelRoutes: false,
    ...extra,
  };
}
