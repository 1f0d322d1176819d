import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PROXY_HEADER_MAX, parseProxyHeader } from '../../src/server/proxy-protocol.ts';

const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A v2 header as HAProxy's send-proxy-v2 writes it (spec section 2.2), with `tlv` bytes after the addresses. */
function v2(command: number, family: number, addresses: Buffer, tlv = Buffer.alloc(0)): Buffer {
  const fixed = Buffer.from([0x20 | command, family, 0, 0]);
  fixed.writeUInt16BE(addresses.length + tlv.length, 2);
  return Buffer.concat([SIGNATURE, fixed, addresses, tlv]);
}

test('PROXY v1: TCP4 and TCP6 name the client; UNKNOWN names none; the header length is what to skip', () => {
  const line = 'PROXY TCP4 198.51.100.7 10.0.0.1 56324 10700\r\n';
  assert.deepEqual(parseProxyHeader(Buffer.from(line + '{"type":"describe"}\n')), { kind: 'header', source: '198.51.100.7', length: line.length });
  const six = 'PROXY TCP6 2001:db8::7 2001:db8::1 1 2\r\n';
  assert.deepEqual(parseProxyHeader(Buffer.from(six)), { kind: 'header', source: '2001:db8::7', length: six.length });
  assert.deepEqual(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), { kind: 'header', length: 15 });
});

test('PROXY v2: IPv4, IPv6 and IPv4-mapped clients; LOCAL names none; TLVs are skipped', () => {
  const ipv4 = Buffer.from([198, 51, 100, 7, 10, 0, 0, 1, 0xdc, 0x04, 0x29, 0xcc]);
  const tlv = Buffer.from([0x04, 0x00, 0x03, 1, 2, 3]); // a NOOP TLV
  const withTlv = v2(1, 0x11, ipv4, tlv);
  assert.deepEqual(parseProxyHeader(Buffer.concat([withTlv, Buffer.from('{')])), { kind: 'header', source: '198.51.100.7', length: withTlv.length });

  const ipv6 = Buffer.alloc(36);
  Buffer.from('20010db8000000000000000000000007', 'hex').copy(ipv6, 0);
  assert.deepEqual(parseProxyHeader(v2(1, 0x21, ipv6)), { kind: 'header', source: '2001:db8:0:0:0:0:0:7', length: 52 });
  const mapped = Buffer.alloc(36);
  Buffer.from('00000000000000000000ffffc6336407', 'hex').copy(mapped, 0);
  assert.deepEqual(parseProxyHeader(v2(1, 0x21, mapped)), { kind: 'header', source: '::ffff:198.51.100.7', length: 52 });

  assert.deepEqual(parseProxyHeader(v2(0, 0x00, Buffer.alloc(0))), { kind: 'header', length: 16 });
});

test('PROXY header: arriving in pieces is incomplete; the Wyoming protocol\'s own bytes are none; malformed is invalid', () => {
  const whole = v2(1, 0x11, Buffer.from([198, 51, 100, 7, 10, 0, 0, 1, 0, 1, 0, 2]));
  for (const n of [1, 5, 12, 15, 20]) assert.equal(parseProxyHeader(whole.subarray(0, n)).kind, 'incomplete', `v2, ${n} bytes`);
  for (const n of [1, 3, 6, 20]) assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 198.51.100.7 10.0.0.1 1 2\r\n').subarray(0, n)).kind, 'incomplete', `v1, ${n} bytes`);

  assert.equal(parseProxyHeader(Buffer.from('{"type":"describe"}\n')).kind, 'none');
  assert.equal(parseProxyHeader(Buffer.from('PROXZ')).kind, 'none');
  assert.equal(parseProxyHeader(Buffer.from('\r\n\r\nhello')).kind, 'none');

  for (const line of [
    'PROXY TCP4 198.51.100.7 10.0.0.1 1\r\n', // a port missing
    'PROXY TCP4 2001:db8::7 10.0.0.1 1 2\r\n', // family and address disagree
    'PROXY TCP4 198.51.100.7 10.0.0.1 1 65536\r\n',
    'PROXY TCP4 198.51.100.7 10.0.0.1 01 2\r\n',
    'PROXY UDP4 198.51.100.7 10.0.0.1 1 2\r\n',
    'PROXY TCP4 198.51.100.7 10.0.0.1 1 2 3\r\n',
    `PROXY ${'x'.repeat(120)}`, // no CRLF within the spec's 107 bytes
  ]) {
    assert.equal(parseProxyHeader(Buffer.from(line)).kind, 'invalid', line);
  }
  const v3 = Buffer.from(whole);
  v3[12] = 0x31;
  assert.equal(parseProxyHeader(v3).kind, 'invalid');
  const unknownCommand = Buffer.from(whole);
  unknownCommand[12] = 0x2f;
  assert.equal(parseProxyHeader(unknownCommand).kind, 'invalid');
  assert.equal(parseProxyHeader(v2(1, 0x11, Buffer.from([1, 2, 3]))).kind, 'invalid', 'addresses cut short');
  const huge = Buffer.concat([SIGNATURE, Buffer.from([0x21, 0x11, 0xff, 0xff])]);
  assert.equal(parseProxyHeader(huge).kind, 'invalid', `longer than ${PROXY_HEADER_MAX} bytes: not waited for`);
});
