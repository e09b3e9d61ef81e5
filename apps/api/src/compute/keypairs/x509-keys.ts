/**
 * Nova's x509 key pairs (microversion 2.2): an imported PEM certificate, fingerprinted as the
 * colon-separated SHA-1 of its DER form (nova.crypto.generate_x509_fingerprint), or a
 * self-signed certificate generated with its RSA key (nova.crypto.generate_winrm_x509_cert).
 */
import { ValidationError } from '@nubo/contracts';
import { execFile } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export function x509Fingerprint(pem: string): string {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    throw new ValidationError('Keypair data is invalid: failed to generate fingerprint', 'public_key');
  }
  return createHash('sha1').update(cert.raw).digest('hex').match(/../g)!.join(':');
}

/** A self-signed certificate for `userId` (CN, as Nova), ten years, with its private key (PEM). */
export async function generateX509KeyPair(userId: string): Promise<{ publicKey: string; privateKey: string; fingerprint: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-x509-'));
  try {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    const cn = userId.replace(/[^A-Za-z0-9_.-]/g, '');
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-subj', `/CN=${cn || 'nubo'}`, '-keyout', key, '-out', cert], {
      timeout: 30_000,
    });
    const [publicKey, privateKey] = await Promise.all([readFile(cert, 'utf8'), readFile(key, 'utf8')]);
    return { publicKey, privateKey, fingerprint: x509Fingerprint(publicKey) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
