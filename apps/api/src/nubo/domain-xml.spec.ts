import { ValidationError } from '@nubo/contracts';
import { XMLParser } from 'fast-xml-parser';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NUBO_XMLNS, domainXml, libvirtName, parseDomainXml, pickFlavor, virtType } from './domain-xml';
import { FIRMWARE_ONLY, HOSTILE_NAMES, IMAGE, IMAGE_BACKED } from './domain-xml.fixtures';

/** Compares with a golden file; UPDATE_GOLDEN=1 rewrites it (review the diff before committing). */
function expectGolden(text: string, name: string): void {
  const file = join(__dirname, '__golden__', name);
  if (process.env.UPDATE_GOLDEN) writeFileSync(file, text);
  expect(text).toBe(readFileSync(file, 'utf8'));
}

/** A strict reading back with standard entity decoding, independent of our own importer. */
const reread = (xml: string) =>
  new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@_', parseTagValue: false, trimValues: false }).parse(xml);

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError) return error.details.field as string;
    throw error;
  }
  return undefined;
}

const domain = (inner: string) => `<domain type='kvm'>${inner}</domain>`;
const IMG = '11111111-2222-4333-8444-555555555555';

describe('domainXml', () => {
  it('matches the golden file for an image-backed server', () => {
    expectGolden(domainXml(IMAGE_BACKED, IMAGE), 'domain.xml');
  });

  it('matches the golden file for a firmware-only server (no disk)', () => {
    const xml = domainXml(FIRMWARE_ONLY, null);
    expectGolden(xml, 'domain-firmware-only.xml');
    expect(xml).not.toContain('<disk');
  });

  it.each([
    [{ hypervisor_type: 'qemu' }, 'qemu'],
    [{ hypervisor_type: 'kvm' }, 'kvm'],
    [{}, 'kvm'],
  ])('chooses the domain type from image properties %j', (properties, type) => {
    expect(virtType({ ...IMAGE, properties })).toBe(type);
    expect(domainXml(IMAGE_BACKED, { ...IMAGE, properties })).toContain(`<domain type="${type}">`);
  });

  it('keeps the disk but no backing store when the image is gone', () => {
    const xml = domainXml(IMAGE_BACKED, null);
    expect(xml).toContain(`/var/lib/nubo/instances/${IMAGE_BACKED.id}/disk.qcow2`);
    expect(xml).not.toContain('backingStore');
    expect(xml).toContain('<domain type="kvm">');
  });

  it('names a raw base as raw', () => {
    expect(domainXml(IMAGE_BACKED, { ...IMAGE, diskFormat: 'raw' })).toContain('<format type="raw"/>');
  });

  it.each(HOSTILE_NAMES)('escapes the hostile name %j', (name) => {
    const xml = domainXml({ ...IMAGE_BACKED, name }, IMAGE);
    const doc = reread(xml).domain;
    expect(doc.name).toBe(libvirtName(name));
    expect(doc.name).not.toMatch(/\n/);
    const exact = doc.metadata['nubo:instance']['nubo:name'];
    // Characters XML cannot carry become U+FFFD; everything else survives exactly.
    expect(exact).toBe(name.replace(/[\u0001\u0008\u001f\ufffe]/g, '\ufffd').replace(/\r\n/g, '\n'));
    expect(xml.split('<name>').length).toBe(2);
    expect(parseDomainXml(xml).name).toBe(libvirtName(name).trim());
  });
});

describe('parseDomainXml', () => {
  it('reads back what domainXml writes', () => {
    expect(parseDomainXml(domainXml(IMAGE_BACKED, IMAGE))).toEqual({ name: 'web-1', memoryMb: 1024, vcpus: 2, imageId: IMAGE.id });
    expect(parseDomainXml(domainXml(FIRMWARE_ONLY, null))).toEqual({ name: 'firmware "only" <&>', memoryMb: 64, vcpus: 1 });
  });

  it.each([
    ['<memory>524288</memory>', 512],
    ["<memory unit='KiB'>524288</memory>", 512],
    ["<memory unit='k'>1025</memory>", 2],
    ["<memory unit='MiB'>512</memory>", 512],
    ["<memory unit='M'>2048</memory>", 2048],
    ["<memory unit='MB'>1000</memory>", 954],
    ["<memory unit='GiB'>2</memory>", 2048],
    ["<memory unit='G'>1</memory>", 1024],
    ["<memory unit='GB'>1</memory>", 954],
    ["<memory unit='bytes'>1</memory>", 1],
    ["<memory unit='b'>1048577</memory>", 2],
    ["<memory unit='TiB'>1</memory>", 1024 * 1024],
  ])('converts %s to %d MiB', (memory, mb) => {
    expect(parseDomainXml(domain(`<name>a</name>${memory}`)).memoryMb).toBe(mb);
  });

  it.each([
    ['named entities and character references', '<name>a &amp; b &lt;&#x41;&#66;&gt; &quot;&apos;</name>', 'a & b <AB> "\''],
    ['CDATA as written', '<name><![CDATA[x &amp; <y>]]></name>', 'x &amp; <y>'],
    ['surrounding whitespace trimmed', '<name>  spaced  </name>', 'spaced'],
    ['unicode', '<name>名前 🚀</name>', '名前 🚀'],
  ])('decodes %s in the name', (_what, name, expected) => {
    expect(parseDomainXml(domain(`${name}<memory>1024</memory>`)).name).toBe(expected);
  });

  it.each([
    ['a nubo:image element under any prefix', `<metadata><x:instance xmlns:x='${NUBO_XMLNS}'><x:image id='${IMG}'/></x:instance></metadata>`, IMG],
    ['the disk source basename', `<devices><disk type='file' device='disk'><source file='/elsewhere/${IMG.toUpperCase()}.qcow2'/></disk></devices>`, IMG],
    ['the bare basename, cdroms ignored', `<devices><disk device='cdrom'><source file='/x.iso'/></disk><disk><source file='${IMG}'/></disk></devices>`, IMG],
    ['metadata over the disk', `<metadata><nubo:instance xmlns:nubo='${NUBO_XMLNS}'><nubo:image id='${IMG}'/></nubo:instance></metadata>
      <devices><disk><source file='/var/lib/nubo/instances/x/disk.qcow2'/></disk></devices>`, IMG],
    ['no disk: firmware only', `<devices><interface type='network'><source network='default'/></interface></devices>`, undefined],
    ['a foreign namespace is not ours', `<metadata><x:instance xmlns:x='http://other/'><x:image id='${IMG}'/></x:instance></metadata>`, undefined],
  ])('finds the image from %s', (_what, inner, imageId) => {
    expect(parseDomainXml(domain(`<name>a</name><memory>1024</memory><vcpu>3</vcpu>${inner}`))).toEqual({
      name: 'a', memoryMb: 1, vcpus: 3, ...(imageId ? { imageId } : {}),
    });
  });

  it.each([
    ['a DOCTYPE (XXE)', `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>${domain('<name>&x;</name><memory>1</memory>')}`, 'body'],
    ['a lowercase doctype', `<!doctype domain>${domain('<name>a</name><memory>1</memory>')}`, 'body'],
    ['an ENTITY alone', `${domain('<name>a</name><memory>1</memory>')}<!ENTITY x "y">`, 'body'],
    ['an undeclared entity', domain('<name>&x;</name><memory>1</memory>'), 'name'],
    ['malformed XML', '<domain><name>a</domain>', 'body'],
    ['another root element', '<network><name>a</name></network>', 'domain'],
    ['two roots', `${domain('<name>a</name><memory>1</memory>')}<domain/>`, 'domain'],
    ['more than 64 KiB', domain(`<name>a</name><memory>1</memory><description>${'x'.repeat(64 * 1024)}</description>`), 'body'],
    ['no name', domain('<memory>1</memory>'), 'name'],
    ['a blank name', domain('<name>  </name><memory>1</memory>'), 'name'],
    ['two names', domain('<name>a</name><name>b</name><memory>1</memory>'), 'name'],
    ['no memory', domain('<name>a</name>'), 'memory'],
    ['negative memory', domain('<name>a</name><memory>-1</memory>'), 'memory'],
    ['zero memory', domain('<name>a</name><memory>0</memory>'), 'memory'],
    ['fractional memory', domain('<name>a</name><memory>1.5</memory>'), 'memory'],
    ['an unknown unit', domain("<name>a</name><memory unit='furlongs'>1</memory>"), 'memory'],
    ['zero vcpus', domain('<name>a</name><memory>1</memory><vcpu>0</vcpu>'), 'vcpu'],
    ['text vcpus', domain('<name>a</name><memory>1</memory><vcpu>two</vcpu>'), 'vcpu'],
    ['two disks', domain(`<name>a</name><memory>1</memory><devices><disk><source file='${IMG}'/></disk><disk><source file='${IMG}'/></disk></devices>`), 'disk'],
    ['a disk named by path only', domain("<name>a</name><memory>1</memory><devices><disk><source file='/etc/passwd'/></disk></devices>"), 'disk'],
    ['a nubo:image that is not a UUID', domain(`<name>a</name><memory>1</memory><metadata><n:instance xmlns:n='${NUBO_XMLNS}'><n:image id='../x'/></n:instance></metadata>`), 'nubo:image'],
  ])('refuses %s with 400 naming the field', (_what, xml, field) => {
    expect(fieldOf(() => parseDomainXml(xml))).toBe(field);
  });
});

describe('pickFlavor', () => {
  const flavors = [
    { id: 'big', vcpus: 8, ramMb: 8192, diskGb: 80 },
    { id: 'small', vcpus: 1, ramMb: 512, diskGb: 1 },
    { id: 'medium', vcpus: 2, ramMb: 2048, diskGb: 20 },
    { id: 'medium-wide', vcpus: 4, ramMb: 2048, diskGb: 20 },
  ];

  it.each([
    [{ vcpus: 1, memoryMb: 1 }, 'small'],
    [{ vcpus: 1, memoryMb: 512 }, 'small'],
    [{ vcpus: 1, memoryMb: 513 }, 'medium'],
    [{ vcpus: 3, memoryMb: 512 }, 'medium-wide'],
    [{ vcpus: 5, memoryMb: 512 }, 'big'],
  ])('picks the smallest flavor for %j', (need, id) => {
    expect(pickFlavor(flavors, need).id).toBe(id);
  });

  it.each([
    [{ vcpus: 9, memoryMb: 1 }, 'vcpu', flavors],
    [{ vcpus: 1, memoryMb: 8193 }, 'memory', flavors],
    [{ vcpus: 1, memoryMb: 1 }, 'vcpu', []],
  ])('refuses %j naming %s', (need, field, list: typeof flavors) => {
    expect(fieldOf(() => pickFlavor(list, need))).toBe(field);
  });
});
