import assert from 'node:assert/strict';
import { FLAGS as CONNECT_FLAGS, connect, tcpFailure, udpFailure } from '../lab/agnhost/connect.ts';
import { joinHostPort, parseDuration, parseFlags, splitHostPort } from '../lab/agnhost/flags.ts';
import { httpAnswer, udpAnswer, type Context } from '../lab/agnhost/netexec.ts';
import { httpBody, portsFromEnv } from '../lab/agnhost/porter.ts';
import { plan } from '../lab/agnhost/serve-hostname.ts';
import { answer as webserverAnswer } from '../lab/agnhost/test-webserver.ts';

describe('lab agnhost: flags as Go reads them', () => {
  it('parses --a=b, --a b, -a, bare booleans and --bool=false; the rest are arguments', () => {
    const spec = { tcp: { kind: 'bool' as const, default: false }, http: { kind: 'bool' as const, default: true }, port: { kind: 'int' as const, default: 9376 } };
    assert.deepEqual(parseFlags(['--tcp', '--http=false', '--port', '80', 'x'], spec), { flags: { tcp: true, http: false, port: 80 }, args: ['x'] });
    assert.deepEqual(parseFlags(['-port=81'], spec).flags.port, 81);
    assert.throws(() => parseFlags(['--nope'], spec), /unknown flag: --nope/);
    assert.throws(() => parseFlags(['--port'], spec), /needs an argument/);
    assert.throws(() => parseFlags(['--port=x'], spec), /invalid argument/);
  });

  it('reads Go durations in milliseconds', () => {
    assert.equal(parseDuration('1s'), 1000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('0'), 0);
    assert.throws(() => parseDuration('5'), /invalid duration/);
    assert.deepEqual(parseFlags(['--timeout=2s', '--protocol', 'udp', '198.18.0.1:80'], CONNECT_FLAGS).flags.timeout, 2000);
  });

  it('splits and joins host:port as Go does (IPv6 in brackets, IPv4-mapped shown as IPv4)', () => {
    assert.deepEqual(splitHostPort('198.19.0.5:80'), { host: '198.19.0.5', port: 80 });
    assert.deepEqual(splitHostPort('[fd00:19::5]:81'), { host: 'fd00:19::5', port: 81 });
    assert.throws(() => splitHostPort('fd00:19::5:81'), /too many colons/);
    assert.throws(() => splitHostPort('host'), /missing port/);
    assert.equal(joinHostPort('::ffff:198.19.0.5', 4000), '198.19.0.5:4000');
    assert.equal(joinHostPort('fd00:19::5', 4000), '[fd00:19::5]:4000');
  });
});

describe('lab agnhost: connect', () => {
  it('reports failures with the fixed prefixes tests match', () => {
    assert.deepEqual(tcpFailure('timeout'), { code: 1, stderr: 'TIMEOUT' });
    assert.deepEqual(tcpFailure(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), { code: 1, stderr: 'REFUSED' });
    assert.match(tcpFailure(Object.assign(new Error('no route'), { code: 'EHOSTUNREACH' })).stderr!, /^OTHER: no route/);
    assert.match(udpFailure(Object.assign(new Error('recvmsg ECONNREFUSED'), { code: 'ECONNREFUSED' })).stderr!, /^REFUSED: /);
    assert.match(udpFailure('timeout').stderr!, /^TIMEOUT: /);
  });

  it('refuses bad arguments before any network use', async () => {
    assert.deepEqual(await connect([]), { code: 1, stderr: 'Error: accepts 1 arg(s), received 0' });
    assert.match((await connect(['nohost'])).stderr!, /^UNKNOWN: /);
    assert.match((await connect(['--bogus', 'a:1'])).stderr!, /unknown flag/);
    assert.match((await connect(['198.18.0.1:80', '--protocol=sctp'])).stderr!, /SCTP/);
  });
});

describe('lab agnhost: serve-hostname and porter', () => {
  it('serve-hostname: HTTP by default, and never HTTP with TCP or UDP', () => {
    assert.deepEqual(plan([]), { tcp: false, udp: false, http: true, close: false, port: 9376 });
    assert.deepEqual(plan(['--tcp', '--http=false', '--port', '80']), { tcp: true, udp: false, http: false, close: false, port: 80 });
    assert.match(plan(['--udp', '--port=81']) as string, /TCP\/UDP mode and HTTP mode/);
  });

  it('porter: ports and values from SERVE_*_PORT_N variables', () => {
    const ports = portsFromEnv({ SERVE_PORT_80: 'foo', SERVE_UDP_PORT_81: 'bar', SERVE_TLS_PORT_443: 'tls', SERVE_PORT_x: 'no', PATH: '/bin' });
    assert.deepEqual(ports, [
      { kind: 'http', port: 80, value: 'foo' },
      { kind: 'udp', port: 81, value: 'bar' },
      { kind: 'tls', port: 443, value: 'tls' },
    ]);
    assert.equal(httpBody('foo', 'POST', true), '{"Method":"POST","Body":"foo"}');
    assert.equal(httpBody('foo', 'GET', false), 'foo');
  });
});

describe('lab agnhost: netexec', () => {
  const dials: string[] = [];
  const ctx: Context = {
    hostname: 'pod-a',
    httpPort: 8080,
    env: { FOO: 'bar' },
    terminating: false,
    async dial(protocol, host, port, request) {
      dials.push(`${protocol} ${host} ${port} ${request}`);
      if (port === 1) throw new Error('refused');
      return 'pod-b';
    },
    async shell(cmd) {
      return { output: `ran ${cmd}` };
    },
  };
  const get = (url: string) => httpAnswer('GET', url, { host: 'x' }, '198.19.0.9:4000', ctx);

  it('answers hostname, clientip, echo, envvar and the health endpoints', async () => {
    assert.equal((await get('/hostname')).body, 'pod-a');
    assert.equal((await get('/hostName')).body, 'pod-a');
    assert.equal((await get('/clientip')).body, '198.19.0.9:4000');
    assert.deepEqual(await get('/echo?msg=hi&code=201'), { status: 201, body: 'hi' });
    assert.equal((await get('/envvar?var=FOO')).body, 'bar');
    assert.equal((await get('/envvar?var=NOPE')).status, 500);
    assert.equal((await get('/readyz')).body, 'ok');
    assert.equal((await get('/shutdown')).exit, 0);
    assert.equal((await get('/exit?code=3')).exit, 3);
    assert.equal((await get('/nope')).status, 404);
    assert.deepEqual(JSON.parse((await get('/shell?shellCommand=ls')).body), { output: 'ran ls' });
  });

  it('/dial sends the request `tries` times and collects answers and errors as JSON', async () => {
    dials.length = 0;
    const ok = await get('/dial?request=hostname&protocol=udp&host=fd00:19::5&port=8081&tries=2');
    assert.deepEqual(JSON.parse(ok.body), { responses: ['pod-b', 'pod-b'] });
    assert.deepEqual(dials, ['udp fd00:19::5 8081 hostname', 'udp fd00:19::5 8081 hostname']);
    const bad = await get('/dial?request=hostName&protocol=http&host=198.19.0.5&port=1');
    assert.deepEqual(JSON.parse(bad.body), { errors: ['refused'] });
    assert.equal((await get('/dial?protocol=http&host=a&port=1')).status, 400);
    assert.equal((await get('/dial?request=x&protocol=sctp&host=a&port=1')).status, 400);
  });

  it('its UDP port answers hostname, echo, clientip, serverport and envvar', () => {
    assert.equal(udpAnswer('hostname\n', ctx, '198.19.0.9:4000', 8081), 'pod-a');
    assert.equal(udpAnswer('echo Hello', ctx, 'c', 8081), 'hello');
    assert.equal(udpAnswer('clientip', ctx, '[fd00:19::9]:4000', 8081), '[fd00:19::9]:4000');
    assert.equal(udpAnswer('serverport', ctx, 'c', 8081), '8081');
    assert.equal(udpAnswer('envvar FOO', ctx, 'c', 8081), 'bar');
    assert.equal(udpAnswer('what', ctx, 'c', 8081), undefined);
  });
});

describe('lab agnhost: test-webserver', () => {
  it('answers / (what connectivity tests fetch) and nothing of this machine\'s files', () => {
    assert.equal(webserverAnswer('/').status, 200);
    assert.equal(webserverAnswer('/etc/passwd').status, 404);
  });
});
