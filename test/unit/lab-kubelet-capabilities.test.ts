import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import {
  capabilitiesOfMask,
  capabilityArgv,
  capabilityName,
  containerCapabilities,
  RUNTIME_DEFAULT_CAPABILITIES,
} from '../lab/kubelet/capabilities.ts';

const daemonSet = YAML.parse(readFileSync(new URL('../../deploy/daemonset.yaml', import.meta.url), 'utf8'));

describe('lab kubelet: a container runs with its securityContext capabilities', () => {
  it('a privileged container keeps everything: no setpriv', () => {
    assert.deepEqual(capabilityArgv({ privileged: true }), []);
    assert.deepEqual(capabilityArgv({ privileged: true, capabilities: { drop: ['ALL'] } }), []);
    assert.equal(containerCapabilities({ capabilities: { add: ['ALL'] } }), undefined);
  });

  it('no securityContext: the runtime default set in bounding, inheritable and ambient', () => {
    const list = ['-all', ...[...RUNTIME_DEFAULT_CAPABILITIES].sort().map((c) => `+${c.toLowerCase()}`)].join(',');
    assert.deepEqual(capabilityArgv(undefined), ['setpriv', `--inh-caps=${list}`, `--ambient-caps=${list}`, `--bounding-set=${list}`, '--']);
    assert.ok(capabilityArgv({}).includes(`--bounding-set=${list}`));
  });

  it('drop ALL + add gives exactly the added set (names with or without CAP_, any case)', () => {
    const sc = { privileged: false, capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'cap_net_raw', 'NET_ADMIN'] } };
    assert.deepEqual(containerCapabilities(sc), ['NET_ADMIN', 'NET_RAW']);
    assert.deepEqual(capabilityArgv(sc), [
      'setpriv',
      '--inh-caps=-all,+net_admin,+net_raw',
      '--ambient-caps=-all,+net_admin,+net_raw',
      '--bounding-set=-all,+net_admin,+net_raw',
      '--',
    ]);
  });

  it('drop of single capabilities removes them from the default set; add puts more in', () => {
    const caps = containerCapabilities({ capabilities: { drop: ['NET_RAW', 'MKNOD'], add: ['SYS_ADMIN'] } })!;
    assert.ok(!caps.includes('NET_RAW') && !caps.includes('MKNOD'));
    assert.ok(caps.includes('SYS_ADMIN') && caps.includes('CHOWN'));
  });

  it('drop ALL alone leaves nothing', () => {
    assert.deepEqual(capabilityArgv({ capabilities: { drop: ['ALL'] } }).slice(1, 4), ['--inh-caps=-all', '--ambient-caps=-all', '--bounding-set=-all']);
  });

  it('allowPrivilegeEscalation false sets no_new_privs', () => {
    assert.ok(capabilityArgv({ allowPrivilegeEscalation: false }).includes('--no-new-privs'));
    assert.ok(!capabilityArgv({ allowPrivilegeEscalation: true }).includes('--no-new-privs'));
  });

  it('refuses what is not a capability name (nothing is passed to a shell unchecked)', () => {
    assert.equal(capabilityName('CAP_SYS_ADMIN'), 'SYS_ADMIN');
    assert.throws(() => capabilityName('NET_ADMIN;reboot'), /not a capability name/);
  });

  it('reads /proc/PID/status masks', () => {
    assert.deepEqual(capabilitiesOfMask('0000000000003400'), ['NET_ADMIN', 'NET_BIND_SERVICE', 'NET_RAW']);
    assert.deepEqual(capabilitiesOfMask('0000000000000000'), []);
  });

  it("deploy/daemonset.yaml's agent is not privileged and gets NET_ADMIN, NET_BIND_SERVICE, NET_RAW only", () => {
    const agent = daemonSet.spec.template.spec.containers.find((c: { name: string }) => c.name === 'krouter');
    assert.equal(agent.securityContext.privileged, false);
    assert.deepEqual(containerCapabilities(agent.securityContext), ['NET_ADMIN', 'NET_BIND_SERVICE', 'NET_RAW']);
    for (const c of daemonSet.spec.template.spec.initContainers ?? []) assert.notEqual(c.securityContext?.privileged, true, c.name);
  });
});
