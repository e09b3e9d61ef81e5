/**
 * OpenSSH public keys as Nova handles them: parse "<type> <base64 blob> [comment]", check that the
 * blob really is a key of that type, fingerprint it (colon-separated MD5 of the blob), and generate
 * RSA 2048 pairs (private key as PKCS#1 PEM, public key in OpenSSH form) when none is given.
 */
import { ValidationError } from '@nubo/contracts';
import { createHash, createPublicKey, generateKeyPair as generateNodeKeyPair, JsonWebKey } from 'node:crypto';
import { promisify } from 'node:util';

const generate = promisify(generateNodeKeyPair);

export class InvalidPublicKeyError extends ValidationError {
  constructor() {
    super('Keypair data is invalid: failed to generate fingerprint', 'public_key');
  }
}

const EC_CURVES: Record<string, { crv: string; size: number }> = {
  nistp256: { crv: 'P-256', size: 32 },
  nistp384: { crv: 'P-384', size: 48 },
  nistp521: { crv: 'P-521', size: 66 },
};

/** Reads SSH wire strings (uint32 length + bytes) off a key blob. */
class WireReader {
  private offset = 0;
  constructor(private readonly buf: Buffer) {}

  string(): Buffer {
    if (this.offset + 4 > this.buf.length) throw new InvalidPublicKeyError();
    const length = this.buf.readUInt32BE(this.offset);
    const start = this.offset + 4;
    if (start + length > this.buf.length) throw new InvalidPublicKeyError();
    this.offset = start + length;
    return this.buf.subarray(start, this.offset);
  }

  /** An mpint as unsigned big-endian bytes, without its sign padding. */
  unsigned(): Buffer {
    const raw = this.string();
    if (raw.length === 0 || raw[0] & 0x80) throw new InvalidPublicKeyError();
    let i = 0;
    while (i < raw.length - 1 && raw[i] === 0) i++;
    return raw.subarray(i);
  }

  end(): void {
    if (this.offset !== this.buf.length) throw new InvalidPublicKeyError();
  }
}

const b64url = (b: Buffer) => b.toString('base64url');

function checkWithCrypto(jwk: JsonWebKey): void {
  try {
    createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    throw new InvalidPublicKeyError();
  }
}

function checkBlob(type: string, blob: Buffer): void {
  const r = new WireReader(blob);
  if (r.string().toString('latin1') !== type) throw new InvalidPublicKeyError();
  if (type === 'ssh-rsa') {
    const e = r.unsigned();
    const n = r.unsigned();
    r.end();
    checkWithCrypto({ kty: 'RSA', e: b64url(e), n: b64url(n) });
  } else if (type === 'ssh-ed25519') {
    const key = r.string();
    r.end();
    if (key.length !== 32) throw new InvalidPublicKeyError();
    checkWithCrypto({ kty: 'OKP', crv: 'Ed25519', x: b64url(key) });
  } else if (type.startsWith('ecdsa-sha2-')) {
    const curve = EC_CURVES[type.slice('ecdsa-sha2-'.length)];
    if (!curve || r.string().toString('latin1') !== type.slice('ecdsa-sha2-'.length)) throw new InvalidPublicKeyError();
    const point = r.string();
    r.end();
    if (point.length !== 1 + 2 * curve.size || point[0] !== 0x04) throw new InvalidPublicKeyError();
    const x = point.subarray(1, 1 + curve.size);
    const y = point.subarray(1 + curve.size);
    checkWithCrypto({ kty: 'EC', crv: curve.crv, x: b64url(x), y: b64url(y) });
  } else if (type === 'ssh-dss') {
    for (let i = 0; i < 4; i++) r.unsigned();
    r.end();
  } else {
    throw new InvalidPublicKeyError();
  }
}

/** The key's type and blob; throws InvalidPublicKeyError (400) for anything that is not a key. */
export function parsePublicKey(text: string): { type: string; blob: Buffer } {
  const parts = text.trim().split(/\s+/);
  if (parts.length < 2) throw new InvalidPublicKeyError();
  const [type, encoded] = parts;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw new InvalidPublicKeyError();
  const blob = Buffer.from(encoded, 'base64');
  if (blob.toString('base64').replace(/=+$/, '') !== encoded.replace(/=+$/, '')) throw new InvalidPublicKeyError();
  checkBlob(type, blob);
  return { type, blob };
}

/** Nova's fingerprint: MD5 of the key blob, hex pairs joined by colons. */
export function fingerprintOf(blob: Buffer): string {
  return createHash('md5').update(blob).digest('hex').match(/../g)!.join(':');
}

function sshString(b: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(b.length);
  return Buffer.concat([length, b]);
}

/** An unsigned big-endian integer as an SSH mpint (a leading zero keeps it positive). */
function sshMpint(b: Buffer): Buffer {
  return sshString(b[0] & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

export interface GeneratedKeyPair {
  publicKey: string;
  privateKey: string;
  fingerprint: string;
}

/** Like Nova's generate_key_pair: RSA 2048, PEM "RSA PRIVATE KEY", "ssh-rsa ... Generated-by-Nova". */
export async function generateRsaKeyPair(bits = 2048): Promise<GeneratedKeyPair> {
  const { publicKey, privateKey } = await generate('rsa', { modulusLength: bits, publicExponent: 0x10001 });
  const jwk = publicKey.export({ format: 'jwk' });
  const blob = Buffer.concat([
    sshString(Buffer.from('ssh-rsa')),
    sshMpint(Buffer.from(jwk.e!, 'base64url')),
    sshMpint(Buffer.from(jwk.n!, 'base64url')),
  ]);
  return {
    publicKey: `ssh-rsa ${blob.toString('base64')} Generated-by-Nova`,
    privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }) as string,
    fingerprint: fingerprintOf(blob),
  };
}
