/**
 * The external router process (BIRD or FRR bgpd) in the router namespace:
 * config files under <state>/router/, control socket there too, output in
 * <state>/logs/router.log.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROUTER_NETNS, statePaths, type LabSpec } from '../config.ts';
import { spawnDetached } from '../proc.ts';
import type { RecordedProcess } from '../state.ts';
import { renderBirdConfig } from './bird.ts';
import { renderFrrConfig } from './frr.ts';
import { routerModel } from './model.ts';

export { routerModel } from './model.ts';

export function routerPaths(spec: Pick<LabSpec, 'stateDir'>) {
  const dir = statePaths.routerDir(spec.stateDir);
  return {
    dir,
    birdConfig: path.join(dir, 'bird.conf'),
    birdSocket: path.join(dir, 'bird.ctl'),
    frrConfig: path.join(dir, 'bgpd.conf'),
    frrPidFile: path.join(dir, 'bgpd.pid'),
    /** FRR's vty socket directory (bgpd.vty lands here). */
    frrVtyDir: path.join(dir, 'vty'),
    log: statePaths.log(spec.stateDir, 'router'),
  };
}

/** Refuses router options the chosen router cannot do. */
export function validateRouterSpec(spec: LabSpec): void {
  if (spec.routerKernelRoutes && spec.router === 'frr') {
    throw new Error('--router-kernel-routes needs --router bird (the lab runs FRR bgpd without zebra, so it cannot install routes)');
  }
  if (spec.routerKernelRoutes && spec.router === 'none') {
    throw new Error('--router-kernel-routes needs a router (--router bird)');
  }
}

/** Writes the router's config; returns the argv that runs it in the router namespace. */
export function prepareRouter(spec: LabSpec): string[] {
  const p = routerPaths(spec);
  mkdirSync(p.dir, { recursive: true });
  const model = routerModel(spec);
  const inNs = ['ip', 'netns', 'exec', ROUTER_NETNS];
  if (spec.router === 'bird') {
    writeFileSync(p.birdConfig, renderBirdConfig(model));
    return [...inNs, 'bird', '-f', '-c', p.birdConfig, '-s', p.birdSocket];
  }
  if (spec.router === 'frr') {
    mkdirSync(p.frrVtyDir, { recursive: true });
    writeFileSync(p.frrConfig, renderFrrConfig(model));
    // -Z: no zebra; -S: no kernel routes from zebra; -P 0: no vty TCP port.
    return [
      ...inNs,
      '/usr/lib/frr/bgpd',
      '-Z',
      '-S',
      '-f',
      p.frrConfig,
      '-i',
      p.frrPidFile,
      '--vty_socket',
      p.frrVtyDir,
      '-A',
      '127.0.0.1',
      '-P',
      '0',
      '-u',
      'root',
      '-g',
      'root',
    ];
  }
  throw new Error('no router configured (--router none)');
}

export function startRouter(spec: LabSpec): RecordedProcess {
  const argv = prepareRouter(spec);
  return spawnDetached(`router ${spec.router}`, argv, { log: routerPaths(spec).log, cwd: spec.repoRoot });
}

/** argv of the router's control client (birdc / vtysh) with the user's arguments. */
export function routerControlArgv(spec: LabSpec, args: string[]): string[] {
  const p = routerPaths(spec);
  if (spec.router === 'bird') return ['birdc', '-s', p.birdSocket, ...args];
  if (spec.router === 'frr') {
    // vtysh takes commands with -c; bare words are joined into one command.
    const cmds = args.length === 0 || args.some((a) => a.startsWith('-')) ? args : ['-c', args.join(' ')];
    return ['vtysh', '--vty_socket', p.frrVtyDir, ...cmds];
  }
  throw new Error('this lab has no router (it was brought up with --router none)');
}

/** A quick "is the router answering" probe command. */
export function routerProbeArgv(spec: LabSpec): string[] {
  return spec.router === 'bird' ? routerControlArgv(spec, ['show', 'status']) : routerControlArgv(spec, ['show', 'bgp', 'summary']);
}
