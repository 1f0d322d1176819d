// The per-address admission on TCP accept on its own, with stand-in sockets: the socket cap, the connect-rate bucket,
// and a table of addresses that address churn cannot grow past its bound. On a real server: hostile-clients.test.ts.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { ClientLimits, clientGroup } from '../../src/server/client-limits.ts';
import { ConnectionAdmission } from '../../src/server/connection-admission.ts';

/** Enough of a net.Socket for admission: its peer, its events, and what a refusal does to it. */
class FakeSocket extends EventEmitter {
  written = '';
  destroyed = false;
  constructor(readonly remoteAddress: string) {
    super();
  }
  resume(): void {}
  setTimeout(): void {}
  end(data: Buffer): void {
    this.written += data.toString();
  }
  destroy(): void {
    this.destroyed = true;
  }
  close(): void {
    this.emit('close');
  }
}

const admission = (exempt: string[] = []) => new ConnectionAdmission({ maxSockets: 2, connectRate: 1000, exempt: new Set(exempt), answer: true });
const open = (a: ConnectionAdmission, address: string) => {
  const socket = new FakeSocket(address);
  return { socket, admitted: a.admit(socket as unknown as Socket) };
};

describe('admission on TCP accept', () => {
  test('beyond the socket cap a connection gets the 429; a closed one frees its place; other addresses are apart', async () => {
    const a = admission();
    const first = [open(a, '10.0.0.1'), open(a, '::ffff:10.0.0.1')]; // one address, as IPv4 or IPv4-mapped
    assert.deepEqual(first.map((o) => o.admitted), [true, true]);
    const third = open(a, '10.0.0.1');
    assert.equal(third.admitted, false);
    assert.match(third.socket.written, /^HTTP\/1\.1 429 Too Many Requests\r\nRetry-After: 5\r\n/);
    assert.equal(open(a, '10.0.0.2').admitted, true);
    assert.deepEqual(a.refusals, { client_sockets: 1, client_connect_rate: 0 });
    first[0]!.socket.close();
    // The two connections also spent the address's burst: wait for the bucket (1000/s) to refill, or this is a rate refusal.
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(open(a, '10.0.0.1').admitted, true);
  });

  test('a burst beyond the bucket is refused by rate, without an answer on a TLS port', () => {
    const a = new ConnectionAdmission({ maxSockets: 2, connectRate: 0.001, exempt: new Set(), answer: false });
    for (let i = 0; i < 2; i++) open(a, '10.0.0.1').socket.close();
    const late = open(a, '10.0.0.1');
    assert.equal(late.admitted, false);
    assert.equal(late.socket.written, '');
    assert.equal(late.socket.destroyed, true);
    assert.deepEqual(a.refusals, { client_sockets: 0, client_connect_rate: 1 });
  });

  test('refusals are told once a minute, naming the address (a balancer not named as trusted shows up in the log)', () => {
    const told: string[] = [];
    const a = new ConnectionAdmission({ maxSockets: 1, connectRate: 1000, exempt: new Set(), answer: true, onRefusal: (address, reason) => told.push(`${address} ${reason}`) });
    open(a, '10.0.0.7');
    for (let i = 0; i < 20; i++) assert.equal(open(a, '10.0.0.7').admitted, false);
    assert.deepEqual(told, ['10.0.0.7 client_sockets']);
  });

  test('an IPv6 client is its /64: the addresses of one network share its caps', () => {
    assert.equal(clientGroup('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64');
    assert.equal(clientGroup('2001:DB8:0001:0002::7'), '2001:db8:1:2::/64');
    assert.equal(clientGroup('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(clientGroup('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(clientGroup('::ffff:1.2.3.4'), '1.2.3.4'); // IPv4-mapped: the IPv4 client
    assert.equal(clientGroup('64:ff9b::1.2.3.4'), '64:ff9b:0:0::/64');
    assert.equal(clientGroup('10.0.0.1'), '10.0.0.1');
    const a = admission();
    assert.deepEqual(['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:db8:1:2::3'].map((ip) => open(a, ip).admitted), [true, true, false]);
    assert.ok(open(a, '2001:db8:1:3::1').admitted); // the next /64 is another client
    const limits = new ClientLimits({ maxConnectionsPerClient: 1, maxSessionsPerClient: 1 });
    assert.ok(limits.tryConnect('2001:db8:1:2::1'));
    assert.ok(!limits.tryConnect('2001:db8:1:2::99'));
    limits.disconnect('2001:db8:1:2::1');
    assert.ok(limits.tryConnect('2001:db8:1:2::99'));
  });

  test('an exempt peer (a trusted proxy) is not limited', () => {
    const a = admission(['10.0.0.9']);
    assert.ok(Array.from({ length: 50 }, () => open(a, '10.0.0.9').admitted).every(Boolean));
  });

  test('address churn: idle addresses are dropped, and with every tracked one busy a new one passes untracked', async () => {
    const a = admission();
    const address = (i: number) => `fd00:0:0:${i.toString(16)}::1`; // each its own /64
    // 10 000 addresses each open and close one socket: the table is full, but of idle addresses.
    for (let i = 0; i < 10_000; i++) open(a, address(i)).socket.close();
    await new Promise((r) => setTimeout(r, 20)); // their buckets refill (1000 a second, 2 deep)
    // A new address is still tracked (the idle ones were swept): its third socket is refused.
    const fresh = [0, 1, 2].map(() => open(a, 'fd01::1').admitted);
    assert.deepEqual(fresh, [true, true, false]);
    // Every tracked address holding a socket: a new address is let through rather than locked out.
    const b = admission();
    for (let i = 0; i < 10_000; i++) open(b, address(i));
    assert.ok([0, 1, 2].map(() => open(b, 'fd01::2').admitted).every(Boolean));
  });
});
