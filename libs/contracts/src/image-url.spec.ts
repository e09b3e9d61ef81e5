import { IMAGE_CALLER_HEADERS, signCallerHeaders, signImageUrl, verifyCallerHeaders, verifyImageUrl } from './image-url';

const SECRET = 's'.repeat(32);
const ID = '6f2a3c7e-0000-4000-8000-000000000001';
const NOW = 1_700_000_000_000;

describe('image URL and caller signatures', () => {
  describe('signImageUrl', () => {
    const url = new URL(signImageUrl('http://127.0.0.1:8792/', ID, SECRET, 600, NOW));
    const expires = url.searchParams.get('expires') ?? undefined;
    const sig = url.searchParams.get('sig') ?? undefined;

    it('points at the internal download of the image, expiring after the ttl', () => {
      expect(url.pathname).toBe(`/internal/images/${ID}/file`);
      expect(Number(expires)).toBe(NOW / 1000 + 600);
    });

    it.each([
      ['the signed URL', ID, expires, sig, SECRET, NOW, true],
      ['at the last second', ID, expires, sig, SECRET, NOW + 600_000, true],
      ['after it expired', ID, expires, sig, SECRET, NOW + 601_000, false],
      ['for another image', ID.replace(/1$/, '2'), expires, sig, SECRET, NOW, false],
      ['with a pushed-back expiry', ID, String(Number(expires) + 3600), sig, SECRET, NOW, false],
      ['with another secret', ID, expires, sig, 't'.repeat(32), NOW, false],
      ['without a signature', ID, expires, undefined, SECRET, NOW, false],
      ['with a short signature', ID, expires, sig?.slice(2), SECRET, NOW, false],
      ['without an expiry', ID, undefined, sig, SECRET, NOW, false],
    ])('verifies %s: %s', (_name, id, exp, s, secret, now, ok) => {
      expect(verifyImageUrl(id, exp, s, secret, now)).toBe(ok);
    });
  });

  describe('signCallerHeaders', () => {
    const headers = signCallerHeaders({ projectId: 'p1', isAdmin: false }, ID, SECRET, 300, NOW);

    it('names the caller, and verifies for the same image', () => {
      expect(verifyCallerHeaders(headers, ID, SECRET, NOW)).toEqual({ projectId: 'p1', isAdmin: false });
      expect(verifyCallerHeaders(signCallerHeaders({ projectId: 'a', isAdmin: true }, ID, SECRET, 300, NOW), ID, SECRET, NOW)).toEqual({ projectId: 'a', isAdmin: true });
    });

    it.each([
      ['another project', { [IMAGE_CALLER_HEADERS.project]: 'p2' }, ID, NOW],
      ['a promotion to admin', { [IMAGE_CALLER_HEADERS.admin]: '1' }, ID, NOW],
      ['another image', {}, ID.replace(/1$/, '2'), NOW],
      ['an expired signature', {}, ID, NOW + 301_000],
      ['a missing signature', { [IMAGE_CALLER_HEADERS.signature]: undefined }, ID, NOW],
    ])('refuses %s', (_name, change, id, now) => {
      expect(verifyCallerHeaders({ ...headers, ...change }, id, SECRET, now)).toBeNull();
    });

    it('cannot be used as a download URL signature', () => {
      const sig = headers[IMAGE_CALLER_HEADERS.signature];
      expect(verifyImageUrl(ID, headers[IMAGE_CALLER_HEADERS.expires], sig, SECRET, NOW)).toBe(false);
    });
  });
});
