import assert from 'node:assert/strict';
import { parseKubeRouterFlags } from '../../core/config/flags.ts';

const ok = (args: string[]) => {
  const r = parseKubeRouterFlags(args);
  assert.deepEqual(r.errors, []);
  return r.overlay;
};
const errors = (args: string[]) => parseKubeRouterFlags(args).errors;

describe('kube-router flags', () => {
  it('maps the run-* flags onto plugin sections', () => {
    assert.deepEqual(ok(['--run-router', '--run-service-proxy=false', '--run-firewall=true', '--enable-cni=False']), {
      plugins: { router: { enabled: true }, 'service-proxy': { enabled: false }, firewall: { enabled: true }, cni: { enabled: false } },
    });
  });

  it('maps --netpol-default-deny onto the firewall section', () => {
    assert.deepEqual(ok(['--run-firewall', '--netpol-default-deny=false']), { plugins: { firewall: { enabled: true, defaultDeny: false } } });
    assert.deepEqual(ok(['--netpol-default-deny']), { plugins: { firewall: { defaultDeny: true } } });
  });

  it('maps --enable-ipv4/--enable-ipv6 with kube-router defaults (ipv4 on, ipv6 off)', () => {
    assert.deepEqual(ok(['--enable-ipv6']), { families: 'dual' });
    assert.deepEqual(ok(['--enable-ipv6=true', '--enable-ipv4=false']), { families: 'ipv6' });
    assert.deepEqual(ok(['--enable-ipv4']), { families: 'ipv4' });
    assert.deepEqual(ok(['--enable-ipv4=true', '--enable-ipv6=false']), { families: 'ipv4' });
    assert.deepEqual(ok([]), {});
    assert.deepEqual(errors(['--enable-ipv4=false']), ['--enable-ipv4, --enable-ipv6: both false leaves no address family']);
  });

  it('maps cluster, node and endpoint flags', () => {
    assert.deepEqual(
      ok(['--kubeconfig', '/k.conf', '--master=https://198.18.0.1:6443', '--hostname-override', 'n1', '--metrics-port=0', '--health-port', '20300']),
      {
        kubernetes: { kubeconfig: '/k.conf', master: 'https://198.18.0.1:6443' },
        nodeName: 'n1',
        // kube-router's port 0 turns the endpoint off.
        metrics: { enabled: false },
        health: { enabled: true, port: 20300 },
      },
    );
  });

  it('maps the router flags', () => {
    assert.deepEqual(
      ok([
        '--cluster-asn=64512',
        '--router-id',
        '198.18.0.10',
        '--bgp-port=1790',
        '--nodes-full-mesh=false',
        '--bgp-graceful-restart',
        '--advertise-cluster-ip',
        '--advertise-external-ip=true',
        '--advertise-loadbalancer-ip=false',
        '--advertise-pod-cidr',
        '--override-nexthop',
        '--peer-router-multihop-ttl=3',
        '--peer-router-passwords-file=/etc/krouter/passwords.yaml',
      ]),
      {
        plugins: {
          router: {
            clusterAsn: 64512,
            routerId: '198.18.0.10',
            bgpPort: 1790,
            nodesFullMesh: false,
            gracefulRestart: { enabled: true },
            advertiseClusterIP: true,
            advertiseExternalIP: true,
            advertiseLoadBalancerIP: false,
            advertisePodCidr: true,
            overrideNexthop: true,
            peerMultihopTtl: 3,
            peerRouterPasswordsFile: '/etc/krouter/passwords.yaml',
          },
        },
      },
    );
  });

  it('maps the service proxy flags (ranges also reach the router, repeated lists append)', () => {
    assert.deepEqual(
      ok([
        '--run-service-proxy',
        '--nodeport-bindon-all-ip',
        '--masquerade-all',
        '--hairpin-mode=false',
        '--service-node-port-range=30000:31000',
        '--service-cluster-ip-range=198.18.128.0/20',
        '--service-cluster-ip-range',
        'fd00:128::/112',
        '--service-external-ip-range=198.18.200.0/24',
        '--cluster-cidr=198.18.16.0/20,fd00:16::/56',
      ]),
      {
        plugins: {
          'service-proxy': {
            enabled: true,
            nodePortAddresses: ['0.0.0.0/0', '::/0'],
            masqueradeAll: true,
            hairpinMode: false,
            nodePortRange: '30000-31000',
            serviceClusterIPRanges: ['198.18.128.0/20', 'fd00:128::/112'],
            externalIPRanges: ['198.18.200.0/24'],
            clusterCIDRs: ['198.18.16.0/20', 'fd00:16::/56'],
          },
          router: { serviceClusterIPRanges: ['198.18.128.0/20', 'fd00:128::/112'], serviceExternalIPRanges: ['198.18.200.0/24'] },
        },
      },
    );
    assert.deepEqual(ok(['--nodeport-bindon-all-ip=false']), { plugins: { 'service-proxy': { nodePortAddresses: ['primary'] } } });
  });

  it('zips the peer-router lists into peers, keeping base64 passwords encoded', () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    assert.deepEqual(
      ok([
        '--peer-router-ips=198.18.0.1,fd00::1',
        '--peer-router-asns',
        '64501,64502',
        '--peer-router-ports=179,1790',
        `--peer-router-passwords=${b64('secret')},${b64('pw2')}`,
      ]).plugins,
      {
        router: {
          peerRouters: [
            { address: '198.18.0.1', asn: 64501, port: 179, password: b64('secret') },
            { address: 'fd00::1', asn: 64502, port: 1790, password: b64('pw2') },
          ],
        },
      },
    );
    // Repeated list flags append, as with pflag string slices.
    assert.deepEqual(ok(['--peer-router-ips=198.18.0.1', '--peer-router-ips=198.18.0.2', '--peer-router-asns=1,2']).plugins, {
      router: { peerRouters: [{ address: '198.18.0.1', asn: 1 }, { address: '198.18.0.2', asn: 2 }] },
    });
  });

  it('refuses mismatched or malformed peer lists, naming the flag', () => {
    assert.deepEqual(errors(['--peer-router-ips=198.18.0.1,198.18.0.2', '--peer-router-asns=1']), [
      '--peer-router-asns: 1 value(s) for 2 --peer-router-ips',
    ]);
    assert.deepEqual(errors(['--peer-router-ips=198.18.0.300', '--peer-router-asns=1']), [
      '--peer-router-ips: "198.18.0.300": not an IP address',
    ]);
    assert.deepEqual(errors(['--peer-router-ips=198.18.0.1', '--peer-router-asns=0']), [
      '--peer-router-asns: "0" must be an ASN 1..4294967295',
    ]);
    assert.deepEqual(errors(['--peer-router-ips=198.18.0.1', '--peer-router-asns=1', '--peer-router-passwords=%%%']), [
      '--peer-router-passwords: value 1 is not base64 (kube-router passwords are base64-encoded)',
    ]);
  });

  it('passes -v/--v to log.level as the config file takes it: a verbosity number or a level name', () => {
    assert.deepEqual(ok(['-v=3']), { log: { level: 3 } });
    assert.deepEqual(ok(['--v', '0']), { log: { level: 0 } });
    assert.deepEqual(ok(['-v', 'warn']), { log: { level: 'warn' } });
    assert.deepEqual(errors(['--v=loud']), ['--v: "loud" must be a verbosity 0..10 (kube-router\'s -v: 0-1 info, 2-3 debug, 4+ trace) or one of error|warn|info|debug|trace']);
    assert.deepEqual(errors(['--v=11']), ['--v: "11" must be a verbosity 0..10 (kube-router\'s -v: 0-1 info, 2-3 debug, 4+ trace) or one of error|warn|info|debug|trace']);
  });

  it('names unknown flags and bad values', () => {
    assert.deepEqual(errors(['--run-routr']), ['--run-routr: unknown flag']);
    assert.deepEqual(errors(['--run-router=yes']), ['--run-router: "yes" is not a boolean (true or false)']);
    assert.deepEqual(errors(['--cluster-asn=abc']), ['--cluster-asn: "abc" must be an integer 0..4294967295']);
    assert.deepEqual(errors(['--bgp-port=70000']), ['--bgp-port: "70000" must be an integer 1..65535']);
    assert.deepEqual(errors(['--kubeconfig']), ['--kubeconfig: needs a value']);
    assert.deepEqual(errors(['--master', '--run-router']), ['--master: needs a value']);
    assert.deepEqual(errors(['stray']), ['stray: unexpected argument (flags start with --)']);
    assert.deepEqual(errors(['-run-router']), ['-run-router: unknown flag (use --run-router)']);
  });
});
