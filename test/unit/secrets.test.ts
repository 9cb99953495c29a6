import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { GobgpService } from '../../core/services/gobgp/index.ts';
import { Metrics } from '../../core/services/metrics.ts';
import { FakeGobgpd } from '../helpers/fake-gobgpd.ts';
import { Logger } from '../../core/services/logger.ts';
import { clearSecrets, isSecretKey, redactFields, registerSecret, scrubSecrets } from '../../core/services/secrets.ts';

function capture(): { logger: Logger; lines: () => string[] } {
  const out: string[] = [];
  const stream = new Writable({ write(chunk, _enc, cb) { out.push(...String(chunk).split('\n').filter(Boolean)); cb(); } });
  return { logger: Logger.create('debug', stream), lines: () => out };
}

describe('secrets: never in a log line', () => {
  afterEach(() => clearSecrets());

  it('names secret keys: password, auth_password, AuthPassword, secrets, token', () => {
    for (const k of ['password', 'auth_password', 'AuthPassword', 'peerPasswords', 'passwd', 'clientSecret', 'token', 'bearer-token']) assert.ok(isSecretKey(k), k);
    for (const k of ['peer', 'passwordsFile', 'peerRouterPasswordsFile', 'asn', 'tokenFile', 'address']) assert.ok(!isSecretKey(k), k);
  });

  it('replaces secret-named fields at any depth, and keeps objects without any untouched', () => {
    const fields = { peer: { address: '198.18.0.1', password: 'hunter22' }, list: [{ auth_password: 'x1234' }], n: 1 };
    assert.deepEqual(redactFields(fields), { peer: { address: '198.18.0.1', password: '[redacted]' }, list: [{ auth_password: '[redacted]' }], n: 1 });
    assert.equal(fields.peer.password, 'hunter22', 'the caller\'s object is not changed');
    const plain = { a: 1, b: ['x'], c: { d: 'e' } };
    assert.equal(redactFields(plain), plain);
  });

  it('cuts registered secrets (plain and base64) out of any string', () => {
    registerSecret('S3cret-pw');
    registerSecret('abc'); // too short to scrub safely
    const b64 = Buffer.from('S3cret-pw').toString('base64');
    assert.equal(scrubSecrets(`neighbor config {AuthPassword:S3cret-pw} and ${b64}`), 'neighbor config {AuthPassword:[redacted]} and [redacted]');
    assert.equal(scrubSecrets('abc'), 'abc');
    assert.deepEqual(redactFields({ error: new Error('refused S3cret-pw') }).error.message, 'refused [redacted]');
  });

  it('the agent logger writes neither, in the message, the fields, or a child\'s bindings', () => {
    registerSecret('Peer-Pass-1');
    const { logger, lines } = capture();
    logger.info('peer Peer-Pass-1 added', { peer: { password: 'other-secret' }, detail: 'x Peer-Pass-1 y' });
    logger.child({ token: 'tok-123456' }).debug('gobgpd', { gobgpd: 'Add a peer configuration', Config: { AuthPassword: 'zzzz-secret' } });
    const text = lines().join('\n');
    assert.equal(lines().length, 2);
    for (const s of ['Peer-Pass-1', 'other-secret', 'tok-123456', 'zzzz-secret']) assert.ok(!text.includes(s), `${s} in ${text}`);
    assert.match(lines()[0]!, /"msg":"peer \[redacted\] added"/);
    assert.match(lines()[1]!, /"AuthPassword":"\[redacted\]"/);
  });
});

describe('secrets: the gobgp service keeps peer passwords out of rejections, logs and its state record', () => {
  afterEach(() => clearSecrets());

  it('a refusal echoing the password is reported and logged without it; the state file holds no password', async () => {
    const PASSWORD = 'Svc-Pass-7c1e';
    class EchoingGobgpd extends FakeGobgpd {
      override async unary<Res = Record<string, unknown>>(rpc: string, request: Record<string, any>): Promise<Res> {
        if (rpc === 'AddPeer' && request.peer.conf.neighbor_address === '198.18.0.13') {
          throw new Error(`invalid neighbor config: ${JSON.stringify(request.peer.conf)}`);
        }
        return super.unary(rpc, request);
      }
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krouter-secrets-svc-'));
    const gobgpd = new EchoingGobgpd();
    const { logger, lines } = capture();
    const bgp = new GobgpService({ logger, metrics: new Metrics(false), socketPath: path.join(dir, 'gobgp.sock'), client: gobgpd, supervisor: gobgpd.supervisor });
    try {
      const result = await bgp.apply({
        global: { asn: 64512, routerId: '198.18.0.11', families: ['ipv4'] },
        peers: [
          { address: '198.18.0.12', asn: 64512, families: ['ipv4'], password: PASSWORD },
          { address: '198.18.0.13', asn: 64512, families: ['ipv4'], password: PASSWORD },
        ],
        paths: [],
      });
      assert.equal(gobgpd.peers.get('198.18.0.12')?.conf.auth_password, PASSWORD, 'gobgpd gets the password');
      assert.equal(result.rejected.length, 1);
      assert.match(result.rejected[0]!.message, /"auth_password":"\[redacted\]"/);
      const logged = lines().join('\n');
      assert.match(logged, /gobgpd refused it/);
      assert.ok(!logged.includes(PASSWORD), logged);
      const record = fs.readFileSync(path.join(dir, 'gobgp.sock.state.json'), 'utf8');
      assert.ok(record.includes('198.18.0.12') && !record.includes(PASSWORD), record);
    } finally {
      await bgp.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
