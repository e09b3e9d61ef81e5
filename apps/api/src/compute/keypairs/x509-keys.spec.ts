import { ValidationError } from '@nubo/contracts';
import { execFileSync } from 'node:child_process';
import { generateX509KeyPair, x509Fingerprint } from './x509-keys';

describe('x509 key pairs', () => {
  it('generates a certificate whose fingerprint is openssl\'s SHA-1, lower case', async () => {
    const pair = await generateX509KeyPair('user-1');
    expect(pair.publicKey).toContain('BEGIN CERTIFICATE');
    expect(pair.privateKey).toContain('PRIVATE KEY');
    const openssl = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha1'], { input: pair.publicKey }).toString();
    expect(pair.fingerprint).toBe(openssl.split('=')[1].trim().toLowerCase());
    expect(x509Fingerprint(pair.publicKey)).toBe(pair.fingerprint);
  });

  it('refuses what is not a certificate, naming public_key', () => {
    expect(() => x509Fingerprint('ssh-rsa AAAA')).toThrow(ValidationError);
  });
});
