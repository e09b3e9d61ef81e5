import { ValidationError } from '@nubo/contracts';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { InvalidPublicKeyError, fingerprintOf, generateRsaKeyPair, parsePublicKey } from './ssh-keys';

// Public keys made with ssh-keygen; fingerprints from `ssh-keygen -l -E md5`.
const KEYS = [
  ['ssh-rsa', 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCTuTkSQn3lAQynaTSJ0ViXp7ARDkAgyxJxguEzqJAptLQGPFK8pYv8J95/3JHEL4ZPAmXOEr4zwvgF4fQP+sGM1DMKQN1bR46+bz/zGOwRuPV3tjZlZHSibzSxcvf7eqk+0HeAyEdlk9WqYg4dp4IGr5pYj0ACbd5RjwW/Hby0CiaxyEm0/deZDauBxikPAymP1BhwsmoJftfaI1cKZ342GShY7idyeOQ2OgZUJYJ7dU0b7FnjyMLrKqdT9AixszG+ZOw6kSCjVBed8MDhVP1dsGaud6KuAg6TrafPqqArCOzPOPTUbaOFMePL2nacKsdMM7vGA2xeNhwt8HwCMB0b test@rsab2048', '4d:a0:c4:7d:e7:0d:ae:e8:c6:bb:0b:b4:e2:bc:4f:ab'],
  ['ssh-ed25519', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAtBFk8yAA5laheQw8UUphi9e809bmEYCvXNgzlRNVnX test@ed25519', 'a7:6c:04:c1:33:a6:af:59:c9:3a:83:18:61:61:4b:0e'],
  ['ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBLQdQfWaz6S1tcTx8WvnlBHeBiS5dEZYpbgf+l0C7Lu57E7U0KKPm5VcVBamQ+hJe2S8r59pv9iWQfIVM7HaKQ4= test@ecdsab256', '82:05:7d:9b:6f:4c:3a:3c:1b:1e:18:c9:8e:f0:46:8c'],
  ['ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBBpCNwbJAV26uRHODPPQ8I9aJyUJRVDdCXXfb2heXw0vtDSLOc8He5KARViqyofY8jY1V36WJE96ULHHveYcaqudkHedrBl7qYIlWnfHnH1wRKw+9yBXrZ9Qb4Ov2YbKEg== test@ecdsab384', '17:b7:6b:1e:60:03:42:65:9a:8a:34:f4:26:e0:3d:83'],
  ['ecdsa-sha2-nistp521', 'ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBABxRoGmQGKRCWryEGNj55rlbYhRaaoVvoUb6jRXtlBOlKAvoBYq6Ja1G62ImwU70V5V0LfosDMVu5MXR4+AN3LA5wAuFlf5uVjaowme98KMGHce14cTLkU2uayt6LSjCHSWXyZ0l3tO+Dj6FxwDqTP4e0DNfnmbHOLuAKve9Q4K8aa4TA== test@ecdsab521', '8d:54:5c:12:96:79:97:1c:50:ba:60:f0:dc:e9:5b:f5'],
] as const;

const RSA = KEYS[0][1];
const [, RSA_BLOB] = RSA.split(' ');

describe('ssh-keys', () => {
  describe('parsePublicKey + fingerprintOf', () => {
    it.each(KEYS)('fingerprints %s like ssh-keygen -E md5', (type, text, fingerprint) => {
      const key = parsePublicKey(text);
      expect(key.type).toBe(type);
      expect(fingerprintOf(key.blob)).toBe(fingerprint);
    });

    it('accepts a key file with a trailing newline and no comment', () => {
      expect(fingerprintOf(parsePublicKey(`ssh-rsa ${RSA_BLOB}\n`).blob)).toBe(KEYS[0][2]);
    });

    const blob = Buffer.from(RSA_BLOB, 'base64');
    it.each([
      ['empty', ''],
      ['type only', 'ssh-rsa'],
      ['not base64', 'ssh-rsa !!!notbase64!!!'],
      ['type mismatch', `ssh-ed25519 ${RSA_BLOB}`],
      ['unknown type', `ssh-foo ${RSA_BLOB}`],
      ['truncated blob', `ssh-rsa ${blob.subarray(0, blob.length - 10).toString('base64')}`],
      ['trailing bytes', `ssh-rsa ${Buffer.concat([blob, Buffer.from([0, 0, 0, 1, 7])]).toString('base64')}`],
      ['a private key', '-----BEGIN RSA PRIVATE KEY----- MIIEpAIBAAKCAQEA -----END RSA PRIVATE KEY-----'],
      ['bad ed25519 length', `ssh-ed25519 ${Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 3, 1, 2, 3])]).toString('base64')}`],
    ])('rejects %s with 400 naming public_key', (_what, text) => {
      let error: unknown;
      try {
        parsePublicKey(text);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InvalidPublicKeyError);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).details.field).toBe('public_key');
      expect((error as Error).message).toBe('Keypair data is invalid: failed to generate fingerprint');
    });
  });

  describe('generateRsaKeyPair', () => {
    it('makes a PKCS#1 PEM private key whose public half is the OpenSSH key returned', async () => {
      const pair = await generateRsaKeyPair();
      expect(pair.privateKey).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n[\s\S]+\n-----END RSA PRIVATE KEY-----\n$/);
      expect(pair.publicKey).toMatch(/^ssh-rsa AAAAB3NzaC1yc2E[A-Za-z0-9+/=]+ Generated-by-Nova$/);
      const parsed = parsePublicKey(pair.publicKey);
      expect(fingerprintOf(parsed.blob)).toBe(pair.fingerprint);
      expect(pair.fingerprint).toMatch(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
      const fromPrivate = createPublicKey(createPrivateKey(pair.privateKey)).export({ format: 'jwk' });
      expect(fromPrivate.kty).toBe('RSA');
      expect(Buffer.from(fromPrivate.n!, 'base64url').length).toBe(256);
      // The modulus in the OpenSSH blob is the private key's.
      expect(parsed.blob.toString('hex')).toContain(Buffer.from(fromPrivate.n!, 'base64url').toString('hex'));
    });
  });
});
