// G.711 telephone audio (ITU-T G.711): 8-bit μ-law and A-law samples expanded to 16-bit linear PCM.

function muLawToLinear(byte: number): number {
  const u = ~byte & 0xff;
  const magnitude = ((((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4)) - 0x84;
  return u & 0x80 ? -magnitude : magnitude;
}

function aLawToLinear(byte: number): number {
  const a = byte ^ 0x55;
  const exponent = (a & 0x70) >> 4;
  let magnitude = (a & 0x0f) << 4;
  magnitude += exponent === 0 ? 8 : 0x108;
  if (exponent > 1) magnitude <<= exponent - 1;
  return a & 0x80 ? magnitude : -magnitude;
}

const MU_LAW = Int16Array.from({ length: 256 }, (_, i) => muLawToLinear(i));
const A_LAW = Int16Array.from({ length: 256 }, (_, i) => aLawToLinear(i));

export type G711Law = 'mulaw' | 'alaw';

/** G.711 bytes → PCM16 little-endian bytes (two per input byte). */
export function decodeG711(bytes: Uint8Array, law: G711Law): Buffer {
  const table = law === 'mulaw' ? MU_LAW : A_LAW;
  const out = Buffer.allocUnsafe(bytes.length * 2);
  for (let i = 0; i < bytes.length; i++) out.writeInt16LE(table[bytes[i]!]!, i * 2);
  return out;
}
