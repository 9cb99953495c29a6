import assert from 'node:assert/strict';
import { IpAllocator, SubnetAllocator } from '../lab/controllers/cidrs.ts';

describe('lab controllers: CIDR allocation', () => {
  it('splits the IPv4 and IPv6 cluster ranges into per-node subnets, lowest first', () => {
    const v4 = new SubnetAllocator('198.19.0.0/16', 24);
    assert.equal(v4.allocate(), '198.19.0.0/24');
    assert.equal(v4.allocate(), '198.19.1.0/24');
    const v6 = new SubnetAllocator('fd00:19::/48', 64);
    assert.equal(v6.allocate(), 'fd00:19::/64');
    assert.equal(v6.allocate(), 'fd00:19:0:1::/64');
  });

  it('keeps occupied subnets and reuses released ones', () => {
    const a = new SubnetAllocator('198.19.0.0/16', 24);
    assert.equal(a.occupy('198.19.0.0/24'), true);
    assert.equal(a.allocate(), '198.19.1.0/24');
    a.release('198.19.0.0/24');
    assert.equal(a.allocate(), '198.19.0.0/24');
  });

  it('refuses subnets that are not its own', () => {
    const a = new SubnetAllocator('198.19.0.0/16', 24);
    assert.equal(a.occupy('198.20.0.0/24'), false);
    assert.equal(a.occupy('198.19.0.0/25'), false);
    assert.equal(a.occupy('fd00:19::/64'), false);
    assert.equal(a.occupy('garbage'), false);
  });

  it('reports exhaustion and a mask size that does not fit', () => {
    const a = new SubnetAllocator('198.19.0.0/23', 24);
    a.allocate();
    a.allocate();
    assert.throws(() => a.allocate(), /no free \/24 left in 198\.19\.0\.0\/23/);
    assert.throws(() => new SubnetAllocator('198.19.0.0/16', 8), /mask size 8 does not fit/);
  });

  it('hands out service IPs without network and broadcast addresses', () => {
    const a = new IpAllocator('198.18.240.0/30');
    assert.equal(a.allocateNext(), '198.18.240.1');
    assert.equal(a.allocateNext(), '198.18.240.2');
    assert.throws(() => a.allocateNext(), /range is full/);
    const b = new IpAllocator('fd00:20::/126');
    assert.deepEqual([b.allocateNext(), b.allocateNext(), b.allocateNext()], ['fd00:20::1', 'fd00:20::2', 'fd00:20::3']);
  });

  it('takes specific IPs with the errors Kubernetes gives', () => {
    const a = new IpAllocator('198.18.240.0/20');
    assert.equal(a.allocateSpecific('198.18.240.10'), '198.18.240.10');
    assert.throws(() => a.allocateSpecific('198.18.240.10'), /provided IP is already allocated/);
    assert.throws(() => a.allocateSpecific('198.18.0.5'), /not in the valid range. The range of valid IPs is 198\.18\.240\.0\/20/);
    assert.throws(() => a.allocateSpecific('fd00:20::1'), /not in the valid range/);
    const b = new IpAllocator('fd00:20::/108');
    assert.equal(b.allocateSpecific('fd00:20:0:0::a'), 'fd00:20::a');
  });
});
