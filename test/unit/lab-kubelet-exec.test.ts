import assert from 'node:assert/strict';
import {
  CHANNEL,
  chooseProtocol,
  decodeFrame,
  encodeFrame,
  exitCodeOf,
  exitStatus,
  parseExecRequest,
  protocolTraits,
  statusPayload,
} from '../lab/kubelet/exec-protocol.ts';
import { parseLogsRequest, selectLog } from '../lab/kubelet/logs.ts';
import { DECLARED_FEATURES, KUBELET_PORT, nodeStatus } from '../lab/kubelet/node-status.ts';
import { agnhostArgv, imageKind } from '../lab/kubelet/pod.ts';

describe('lab kubelet: exec requests', () => {
  it('reads the path and the query the API server forwards (input/output/error, repeated command)', () => {
    const r = parseExecRequest('/exec/ns1/pod-a/c1?command=sh&command=-c&command=echo+hi%3B+exit+3&input=1&output=1&error=1');
    assert.deepEqual(r, { namespace: 'ns1', pod: 'pod-a', container: 'c1', command: ['sh', '-c', 'echo hi; exit 3'], stdin: true, stdout: true, stderr: true, tty: false });
  });

  it('takes the pod UID form and the stdin/stdout/stderr names too', () => {
    const r = parseExecRequest('/exec/ns1/pod-a/uid-1/c1?command=true&stdout=true&tty=1');
    assert.ok(typeof r !== 'string');
    assert.equal(r.uid, 'uid-1');
    assert.equal(r.container, 'c1');
    assert.equal(r.stdout, true);
    assert.equal(r.stdin, false);
    assert.equal(r.tty, true);
  });

  it('refuses what is not an exec: other paths, no command, no stream', () => {
    assert.match(parseExecRequest('/logs/ns/p/c') as string, /not an exec path/);
    assert.match(parseExecRequest('/exec/ns/p') as string, /must be \/exec/);
    assert.match(parseExecRequest('/exec/ns/p/c?output=1') as string, /no command/);
    assert.match(parseExecRequest('/exec/ns/p/c?command=ls') as string, /at least one of stdin, stdout, stderr/);
  });
});

describe('lab kubelet: remote command WebSocket protocol', () => {
  it('prefers v5, then v4, and refuses protocols it does not speak', () => {
    assert.equal(chooseProtocol(['v4.channel.k8s.io', 'v5.channel.k8s.io']), 'v5.channel.k8s.io');
    assert.equal(chooseProtocol([' v4.channel.k8s.io']), 'v4.channel.k8s.io');
    assert.equal(chooseProtocol(['base64.channel.k8s.io']), 'base64.channel.k8s.io');
    assert.equal(chooseProtocol(['SPDY/3.1+portforward.k8s.io', 'v9.channel.k8s.io']), undefined);
  });

  it('knows which protocol has base64 text, JSON status and half-close', () => {
    assert.deepEqual(protocolTraits('v5.channel.k8s.io'), { base64: false, jsonStatus: true, streamClose: true });
    assert.deepEqual(protocolTraits('v4.base64.channel.k8s.io'), { base64: true, jsonStatus: true, streamClose: false });
    assert.deepEqual(protocolTraits(''), { base64: false, jsonStatus: false, streamClose: false });
  });

  it('frames data as a channel byte then the bytes, or a digit then base64', () => {
    assert.deepEqual(encodeFrame(CHANNEL.stdout, Buffer.from('hi'), false), Buffer.from([1, 104, 105]));
    assert.equal(encodeFrame(CHANNEL.stderr, Buffer.from('hi'), true), '2aGk=');
    assert.deepEqual(encodeFrame(CHANNEL.error, new Uint8Array(), false), Buffer.from([3]));
  });

  it('decodes stdin data, the v5 half-close, and treats 255 as data before v5', () => {
    const v5 = protocolTraits('v5.channel.k8s.io');
    assert.deepEqual(decodeFrame(Buffer.from([0, 120, 10]), v5), { kind: 'data', channel: 0, data: Buffer.from('x\n') });
    assert.deepEqual(decodeFrame(Buffer.from([255, 0]), v5), { kind: 'close', channel: 0 });
    assert.equal(decodeFrame(Buffer.from([255, 0, 1]), v5).kind, 'invalid');
    assert.deepEqual(decodeFrame(Buffer.from([255, 0]), protocolTraits('v4.channel.k8s.io')), { kind: 'data', channel: 255, data: Buffer.from([0]) });
    assert.deepEqual(decodeFrame('0eA==', protocolTraits('v4.base64.channel.k8s.io')), { kind: 'data', channel: 0, data: Buffer.from('x') });
    assert.deepEqual(decodeFrame(Buffer.alloc(0), v5), { kind: 'empty' });
  });

  it('reports exit codes as kubectl reads them: Success, or NonZeroExitCode with an ExitCode cause', () => {
    assert.deepEqual(exitStatus(0), { metadata: {}, status: 'Success' });
    const s = exitStatus(3) as any;
    assert.equal(s.status, 'Failure');
    assert.equal(s.reason, 'NonZeroExitCode');
    assert.deepEqual(s.details.causes, [{ reason: 'ExitCode', message: '3' }]);
    assert.equal(exitCodeOf(null, 'SIGKILL', { SIGKILL: 9 }), 137);
    assert.equal(exitCodeOf(2, null, {}), 2);
  });

  it('sends the status as JSON from v4 on; before v4 only a failure message, nothing on success', () => {
    assert.deepEqual(JSON.parse(statusPayload(exitStatus(0), protocolTraits('v5.channel.k8s.io'))!.toString()), { metadata: {}, status: 'Success' });
    assert.equal(statusPayload(exitStatus(0), protocolTraits('channel.k8s.io')), undefined);
    assert.match(statusPayload(exitStatus(4), protocolTraits('channel.k8s.io'))!.toString(), /exit status 4/);
  });
});

describe('lab kubelet: node API endpoint and agnhost image', () => {
  it('declares its kubelet port and WebSocket exec support in the Node status', () => {
    const s = nodeStatus({ node: 'n', addresses: {}, networkReady: true, cniConfPath: '/x' }) as any;
    assert.deepEqual(s.daemonEndpoints, { kubeletEndpoint: { Port: KUBELET_PORT } });
    assert.deepEqual(s.declaredFeatures, ['ExtendWebSocketsToKubelet']);
    assert.deepEqual([...DECLARED_FEATURES].sort(), DECLARED_FEATURES, 'the API server wants them sorted');
  });

  it('recognizes agnhost from any registry and tag, and builds its command as the image would', () => {
    assert.equal(imageKind('registry.k8s.io/e2e-test-images/agnhost:2.56'), 'agnhost');
    assert.equal(imageKind('example.com/mirror/agnhost@sha256:abc'), 'agnhost');
    assert.equal(imageKind('example.com/agnhost-extra:1'), 'pod-server');
    assert.deepEqual(agnhostArgv({}), ['/agnhost', 'pause']);
    assert.deepEqual(agnhostArgv({ args: ['netexec', '--http-port=8080'] }), ['/agnhost', 'netexec', '--http-port=8080']);
    assert.deepEqual(agnhostArgv({ command: ['/bin/sh', '-c'], args: ['sleep 1'] }), ['/bin/sh', '-c', 'sleep 1']);
  });
});

describe('lab kubelet: container logs', () => {
  it('reads /containerLogs/NS/POD/CONTAINER with tailLines and limitBytes', () => {
    assert.deepEqual(parseLogsRequest('/containerLogs/ns/p/c?tailLines=2&limitBytes=10'), { namespace: 'ns', pod: 'p', container: 'c', tailLines: 2, limitBytes: 10 });
    assert.deepEqual(parseLogsRequest('/containerLogs/ns/p/c'), { namespace: 'ns', pod: 'p', container: 'c' });
    assert.match(parseLogsRequest('/exec/ns/p/c') as string, /not a container logs path/);
  });

  it('keeps the last lines, then the first bytes of those', () => {
    const text = Buffer.from('a\nb\nc\n');
    assert.equal(selectLog(text, {}).toString(), 'a\nb\nc\n');
    assert.equal(selectLog(text, { tailLines: 2 }).toString(), 'b\nc\n');
    assert.equal(selectLog(text, { tailLines: 0 }).toString(), '');
    assert.equal(selectLog(Buffer.from('a\nb'), { tailLines: 1 }).toString(), 'b');
    assert.equal(selectLog(text, { tailLines: 2, limitBytes: 1 }).toString(), 'b');
  });
});
