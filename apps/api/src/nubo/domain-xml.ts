/**
 * A server as libvirt domain XML, for operators who think in libvirt terms (virsh dumpxml), and the
 * reverse: a small documented subset of a domain XML read back as a server create request.
 *
 * Export: the api does not know an agent's state directory, so host paths use the placeholder
 * prefix DOMAIN_XML_STATE_DIR, laid out as the agent lays out its own: instances/<id>/disk.qcow2
 * (the overlay), instances/<id>/console.log (the serial log), images/<sha256> (the base).
 *
 * Import reads only: <name>, <memory unit=...> (KiB when no unit), <vcpu> (1 when absent) and
 * the image id, from <metadata><nubo:instance xmlns:nubo=NUBO_XMLNS><nubo:image id=.../> when
 * present, else from the single disk's <source file> basename when that is a UUID (with or without
 * an extension). Host paths are never used as paths. Interfaces, uuid, type, os, cpu and the
 * other devices are ignored (networking is not wired to servers yet). DTDs and entity
 * declarations are refused: nothing is ever expanded beyond XML's five entities and character
 * references.
 */
import { ValidationError } from '@nubo/contracts';
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';

export const NUBO_XMLNS = 'http://nubo.dev/xmlns/libvirt/domain/1.0';
export const DOMAIN_XML_STATE_DIR = '/var/lib/nubo';
/** Largest import body: a domain XML is a few KiB. */
export const DOMAIN_XML_MAX_BYTES = 64 * 1024;

export interface DomainXmlServer {
  id: string;
  name: string;
  projectId: string;
  flavorId: string;
  flavor: { vcpus: number; ramMb: number; diskGb: number; name: string };
  imageRef: string | null;
}

/** What the image store knows of the server's image; null when it is gone. */
export interface DomainXmlImage {
  id: string;
  diskFormat: string | null;
  sha256: string | null;
  properties: Record<string, string>;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// XML 1.0 cannot carry these at all, not even as character references.
// eslint-disable-next-line no-control-regex
const NOT_XML_CHAR = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Text XML 1.0 can hold; the builder escapes & < > " '. */
export const xmlText = (s: string): string => s.replace(NOT_XML_CHAR, '\ufffd');
/** libvirt's domain name is one line (schema pattern [^\n]+); the exact name is in the metadata. */
export const libvirtName = (s: string): string => xmlText(s).replace(/[\r\n\t]/g, ' ') || '-';
/** Attribute values: parsers fold line breaks to spaces anyway; do it visibly. */
const attr = (s: string): string => xmlText(s).replace(/[\r\n\t]/g, ' ');

/** `<domain type>`: the image's hypervisor_type chooses TCG ('qemu'); anything else is KVM. */
export function virtType(image: DomainXmlImage | null): 'kvm' | 'qemu' {
  return image?.properties.hypervisor_type === 'qemu' ? 'qemu' : 'kvm';
}

export function domainXml(server: DomainXmlServer, image: DomainXmlImage | null): string {
  const dir = `${DOMAIN_XML_STATE_DIR}/instances/${server.id}`;
  const kib = String(server.flavor.ramMb * 1024);
  const devices: Record<string, unknown> = {};
  if (server.imageRef) {
    const disk: Record<string, unknown> = {
      '@_type': 'file',
      '@_device': 'disk',
      driver: { '@_name': 'qemu', '@_type': 'qcow2' },
      source: { '@_file': `${dir}/disk.qcow2` },
    };
    if (image) {
      disk.backingStore = {
        '@_type': 'file',
        format: { '@_type': image.diskFormat === 'raw' ? 'raw' : 'qcow2' },
        source: { '@_file': `${DOMAIN_XML_STATE_DIR}/images/${image.sha256 ?? image.id}` },
        backingStore: '',
      };
    }
    disk.target = { '@_dev': 'vda', '@_bus': 'virtio' };
    devices.disk = disk;
  }
  devices.serial = { '@_type': 'file', source: { '@_path': `${dir}/console.log` }, target: { '@_port': '0' } };
  devices.console = { '@_type': 'file', source: { '@_path': `${dir}/console.log` }, target: { '@_type': 'serial', '@_port': '0' } };
  const instance: Record<string, unknown> = {
    '@_xmlns:nubo': NUBO_XMLNS,
    'nubo:name': xmlText(server.name),
    'nubo:project': { '@_id': attr(server.projectId) },
    'nubo:flavor': {
      '@_id': attr(server.flavorId),
      '@_name': attr(server.flavor.name),
      '@_vcpus': String(server.flavor.vcpus),
      '@_ram_mb': String(server.flavor.ramMb),
      '@_disk_gb': String(server.flavor.diskGb),
    },
  };
  if (server.imageRef) instance['nubo:image'] = { '@_id': attr(server.imageRef) };
  const doc = {
    domain: {
      '@_type': virtType(image),
      name: libvirtName(server.name),
      uuid: server.id,
      metadata: { 'nubo:instance': instance },
      memory: { '@_unit': 'KiB', '#text': kib },
      currentMemory: { '@_unit': 'KiB', '#text': kib },
      vcpu: { '@_placement': 'static', '#text': String(server.flavor.vcpus) },
      os: { type: { '@_arch': 'x86_64', '@_machine': 'q35', '#text': 'hvm' }, boot: { '@_dev': 'hd' } },
      cpu: { '@_mode': 'custom', model: 'qemu64' },
      devices,
    },
  };
  const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', format: true, indentBy: '  ', suppressEmptyNode: true });
  return builder.build(doc) as string;
}

// ---- import ----------------------------------------------------------------------------------

export interface DomainImport {
  name: string;
  /** Memory asked for, rounded up to whole MiB. */
  memoryMb: number;
  vcpus: number;
  imageId?: string;
}

/** libvirt's memory units (virScaleInteger): powers of 1024 by default, 1000 for the SI ones. */
const UNITS: Record<string, number> = {
  b: 1, bytes: 1,
  k: 1024, kib: 1024, kb: 1000,
  m: 1024 ** 2, mib: 1024 ** 2, mb: 1000 ** 2,
  g: 1024 ** 3, gib: 1024 ** 3, gb: 1000 ** 3,
  t: 1024 ** 4, tib: 1024 ** 4, tb: 1000 ** 4,
};

type Node = Record<string, unknown>;

/** XML's five entities and character references; anything else was meant for a DTD. */
function decode(raw: string, field: string): string {
  return raw.replace(/&([^;&\s]*);?/g, (whole, ref: string) => {
    const named: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
    if (!whole.endsWith(';')) throw new ValidationError(`Invalid input for field/attribute ${field}. A bare '&' is not XML.`, field);
    if (named[ref] !== undefined) return named[ref];
    const code = /^#x[0-9a-f]+$/i.test(ref) ? parseInt(ref.slice(2), 16) : /^#[0-9]+$/.test(ref) ? parseInt(ref.slice(1), 10) : NaN;
    if (!Number.isFinite(code) || code > 0x10ffff) {
      throw new ValidationError(`Invalid input for field/attribute ${field}. Entity &${ref}; is not allowed.`, field);
    }
    return String.fromCodePoint(code);
  });
}

/** The text of an element: plain text or `{#text, @_attrs}`, CDATA kept as written. */
function textOf(node: unknown, field: string): string | undefined {
  if (node === undefined) return undefined;
  if (typeof node === 'string') return decode(node, field);
  if (Array.isArray(node)) throw new ValidationError(`Invalid input for field/attribute ${field}. It appears more than once.`, field);
  const n = node as Node;
  const cdata = n['#cdata'];
  return decode(String(n['#text'] ?? ''), field) + (Array.isArray(cdata) ? cdata.join('') : String(cdata ?? ''));
}

function attrOf(node: unknown, name: string, field: string): string | undefined {
  if (typeof node !== 'object' || node === null) return undefined;
  const v = (node as Node)[`@_${name}`];
  return typeof v === 'string' ? decode(v, field) : undefined;
}

function positiveInt(raw: string | undefined, field: string): number {
  const t = raw?.trim() ?? '';
  if (!/^[0-9]+$/.test(t) || !Number.isSafeInteger(Number(t)) || Number(t) < 1) {
    throw new ValidationError(`Invalid input for field/attribute ${field}. Value: ${JSON.stringify(t)}. It must be a positive integer.`, field);
  }
  return Number(t);
}

const list = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** The image named by our own metadata element, whatever prefix the document bound to NUBO_XMLNS. */
function metadataImage(metadata: unknown): string | undefined {
  if (typeof metadata !== 'object' || metadata === null) return undefined;
  for (const [tag, value] of Object.entries(metadata as Node)) {
    for (const el of list(value)) {
      if (typeof el !== 'object' || el === null) continue;
      const prefix = Object.keys(el as Node).find((k) => k.startsWith('@_xmlns:') && (el as Node)[k] === NUBO_XMLNS)?.slice(8);
      if (!prefix || tag !== `${prefix}:instance`) continue;
      const image = list((el as Node)[`${prefix}:image`]);
      if (image.length > 1) throw new ValidationError('Invalid input for field/attribute nubo:image. It appears more than once.', 'nubo:image');
      if (image.length) return attrOf(image[0], 'id', 'nubo:image') ?? '';
    }
  }
  return undefined;
}

/** The basename of a disk's source file, without extension, when it is a UUID. */
function diskImage(disks: unknown[]): string | undefined {
  const real = disks.filter((d) => (attrOf(d, 'device', 'disk') ?? 'disk') === 'disk');
  if (real.length > 1) throw new ValidationError('Invalid input for field/attribute disk. Nubo servers have one disk.', 'disk');
  if (!real.length) return undefined;
  const source = (real[0] as Node)?.source;
  const file = attrOf(Array.isArray(source) ? source[0] : source, 'file', 'disk') ?? '';
  const base = file.split('/').pop()!.replace(/\.[A-Za-z0-9]+$/, '');
  if (!UUID_RE.test(base)) {
    throw new ValidationError('Invalid input for field/attribute disk. Name the image in <nubo:image id="..."/> or as the basename of the disk\'s source file.', 'disk');
  }
  return base.toLowerCase();
}

export function parseDomainXml(xml: string): DomainImport {
  if (Buffer.byteLength(xml) > DOMAIN_XML_MAX_BYTES) throw new ValidationError(`The domain XML is larger than ${DOMAIN_XML_MAX_BYTES} bytes.`, 'body');
  // No DTD, no entity declarations (XXE, billion laughs): refused before any parser sees them.
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw new ValidationError('DTDs and entity declarations are not allowed in a domain XML.', 'body');
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new ValidationError(`Malformed domain XML: ${valid.err.msg} (line ${valid.err.line})`, 'body');
  const parser = new XMLParser({
    ignoreAttributes: false, attributeNamePrefix: '@_', parseTagValue: false, parseAttributeValue: false,
    processEntities: false, htmlEntities: false, trimValues: true, cdataPropName: '#cdata', ignoreDeclaration: true,
    ignorePiTags: true, commentPropName: false,
  });
  const doc = parser.parse(xml) as Node;
  const roots = Object.keys(doc);
  if (roots.length !== 1 || roots[0] !== 'domain' || typeof doc.domain !== 'object' || Array.isArray(doc.domain)) {
    throw new ValidationError('The document must have one root element, <domain>.', 'domain');
  }
  const domain = doc.domain as Node;
  const name = textOf(domain.name, 'name')?.trim();
  if (!name) throw new ValidationError("Invalid input for field/attribute name. 'name' is a required property", 'name');
  if (domain.memory === undefined) throw new ValidationError("Invalid input for field/attribute memory. 'memory' is a required property", 'memory');
  const amount = positiveInt(textOf(domain.memory, 'memory'), 'memory');
  const unit = (attrOf(domain.memory, 'unit', 'memory') ?? 'KiB').toLowerCase();
  if (!UNITS[unit]) throw new ValidationError(`Invalid input for field/attribute memory. Unknown unit ${JSON.stringify(unit)}.`, 'memory');
  const memoryMb = Math.ceil((amount * UNITS[unit]) / 1024 ** 2);
  if (!Number.isSafeInteger(memoryMb)) throw new ValidationError('Invalid input for field/attribute memory. It is too large.', 'memory');
  const vcpus = domain.vcpu === undefined ? 1 : positiveInt(textOf(domain.vcpu, 'vcpu'), 'vcpu');
  const devices = typeof domain.devices === 'object' && domain.devices !== null ? (domain.devices as Node) : {};
  const fromMetadata = metadataImage(domain.metadata);
  const imageId = fromMetadata ?? diskImage(list(devices.disk));
  if (imageId !== undefined && !UUID_RE.test(imageId)) {
    throw new ValidationError(`Invalid input for field/attribute nubo:image. Value: ${JSON.stringify(imageId)}. It is not a UUID`, 'nubo:image');
  }
  return { name, memoryMb, vcpus, ...(imageId ? { imageId: imageId.toLowerCase() } : {}) };
}

export interface FlavorFit {
  id: string;
  vcpus: number;
  ramMb: number;
  diskGb: number;
}

/** The smallest flavor (RAM, then vCPUs, then disk) that holds the request; 400 naming what none holds. */
export function pickFlavor<F extends FlavorFit>(flavors: F[], need: { vcpus: number; memoryMb: number }): F {
  const fits = flavors
    .filter((f) => f.vcpus >= need.vcpus && f.ramMb >= need.memoryMb)
    .sort((a, b) => a.ramMb - b.ramMb || a.vcpus - b.vcpus || a.diskGb - b.diskGb || a.id.localeCompare(b.id));
  if (fits.length) return fits[0];
  if (!flavors.some((f) => f.vcpus >= need.vcpus)) {
    throw new ValidationError(`Invalid input for field/attribute vcpu. No flavor has ${need.vcpus} vCPUs.`, 'vcpu');
  }
  throw new ValidationError(`Invalid input for field/attribute memory. No flavor has ${need.memoryMb} MiB of RAM with ${need.vcpus} vCPUs.`, 'memory');
}
