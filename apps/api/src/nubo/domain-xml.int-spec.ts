/**
 * The generated domain XML against libvirt's own RelaxNG schema: `virt-xml-validate FILE domain`
 * (Debian's libvirt-clients, which runs xmllint from libxml2-utils). Installed here when missing
 * and possible; otherwise the suite is skipped with the reason.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { domainXml } from './domain-xml';
import { FIRMWARE_ONLY, HOSTILE_NAMES, IMAGE, IMAGE_BACKED } from './domain-xml.fixtures';

const has = (cmd: string) => spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd]).status === 0;

function ensureValidator(): string | undefined {
  const ready = () => has('virt-xml-validate') && has('xmllint') && spawnSync('test', ['-f', '/usr/share/libvirt/schemas/domain.rng']).status === 0;
  if (ready()) return undefined;
  if (process.getuid?.() !== 0) return 'virt-xml-validate is missing and the tests are not root (apt-get install libvirt-clients libxml2-utils)';
  const apt = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'libvirt-clients', 'libxml2-utils'], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    encoding: 'utf8',
    timeout: 300_000,
  });
  return ready() ? undefined : `virt-xml-validate could not be installed: apt-get exited ${apt.status}: ${(apt.stderr ?? '').slice(-300)}`;
}

const missing = ensureValidator();
if (missing) process.stderr.write(`SKIPPED domain-xml.int-spec: ${missing}\n`);

(missing ? describe.skip : describe)('domain XML against libvirt schema (virt-xml-validate)', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nubo-domain-xml-'));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function validate(xml: string, name: string): { status: number | null; output: string } {
    const file = join(dir, `${name}.xml`);
    writeFileSync(file, xml);
    const run = spawnSync('virt-xml-validate', [file, 'domain'], { encoding: 'utf8', timeout: 30_000 });
    return { status: run.status, output: `${run.stdout}${run.stderr}` };
  }

  it.each([
    ['image-backed (TCG)', () => domainXml(IMAGE_BACKED, IMAGE)],
    ['image-backed, KVM, raw base', () => domainXml(IMAGE_BACKED, { ...IMAGE, diskFormat: 'raw', properties: {} })],
    ['image-backed, image gone', () => domainXml(IMAGE_BACKED, null)],
    ['firmware-only', () => domainXml(FIRMWARE_ONLY, null)],
  ])('accepts the %s server', (what, xml) => {
    const result = validate(xml(), what.replace(/\W+/g, '-'));
    expect(result).toEqual({ status: 0, output: expect.stringContaining('validates') });
  });

  it.each(HOSTILE_NAMES.map((name, i) => [i, name] as const))('accepts hostile name #%d %j', (i, name) => {
    expect(validate(domainXml({ ...IMAGE_BACKED, name }, IMAGE), `hostile-${i}`)).toEqual({ status: 0, output: expect.stringContaining('validates') });
  });

  it('refuses a domain the schema does not allow (the check can fail)', () => {
    const broken = domainXml(FIRMWARE_ONLY, null).replace('<vcpu placement="static">1</vcpu>', '<vcpu placement="static">one</vcpu>');
    expect(validate(broken, 'broken').status).not.toBe(0);
  });
});
