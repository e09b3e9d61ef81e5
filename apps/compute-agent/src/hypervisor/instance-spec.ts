/**
 * Validation of what reaches a driver. Server ids become directory names and QEMU arguments, so
 * they must be canonical UUIDs; sizes must be positive integers; an image is named on the host by
 * its sha256 only, so its id and URL never become paths.
 */
import { CpuTopology, ImageSource, InstanceSpec, NicSpec, SnapshotUpload, ValidationError } from '@nubo/contracts';
import type { ConsoleLogOptions, RebootOptions, StopOptions } from './hypervisor-driver';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** QEMU q35 accepts at most 288 vCPUs. */
export const MAX_VCPUS = 288;

/** The agent's stop and reboot RPCs allow 330 s; the grace period must end well before. */
export const MAX_GRACE_SECONDS = 300;

const SHA256 = /^[0-9a-f]{64}$/;
const DISK_FORMATS: ReadonlyArray<ImageSource['diskFormat']> = ['raw', 'qcow2', 'iso'];

export function isServerId(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

export function assertServerId(value: unknown): string {
  if (!isServerId(value)) throw new ValidationError('serverId must be a lower-case UUID', 'serverId');
  return value;
}

export function validateInstanceSpec(spec: unknown): InstanceSpec {
  if (!spec || typeof spec !== 'object') throw new ValidationError('spec is required', 'spec');
  const s = spec as Partial<InstanceSpec>;
  assertServerId(s.serverId);
  positiveInt(s.vcpus, 'spec.vcpus', MAX_VCPUS);
  positiveInt(s.ramMb, 'spec.ramMb');
  if (!Number.isInteger(s.diskGb) || (s.diskGb as number) < 0) {
    throw new ValidationError('spec.diskGb must be an integer >= 0', 'spec.diskGb');
  }
  const image = s.image === undefined ? undefined : validateImageSource(s.image);
  if (s.accelerator !== undefined && s.accelerator !== 'kvm' && s.accelerator !== 'tcg') {
    throw new ValidationError('spec.accelerator must be kvm or tcg', 'spec.accelerator');
  }
  if (s.name !== undefined) text(s.name, 'spec.name', { max: MAX_TEXT });
  const metadata = s.metadata === undefined ? undefined : validateMetadata(s.metadata);
  if (s.ephemeralGb !== undefined && (!Number.isInteger(s.ephemeralGb) || s.ephemeralGb < 0 || s.ephemeralGb > MAX_EPHEMERAL_GB)) {
    throw new ValidationError(`spec.ephemeralGb must be an integer between 0 and ${MAX_EPHEMERAL_GB}`, 'spec.ephemeralGb');
  }
  const topology = s.topology === undefined ? undefined : validateTopology(s.topology, s.vcpus as number);
  if (s.diskBus !== undefined && s.diskBus !== 'virtio' && s.diskBus !== 'scsi') {
    throw new ValidationError('spec.diskBus must be virtio or scsi', 'spec.diskBus');
  }
  const nics = s.nics === undefined ? undefined : validateNics(s.nics);
  if (s.storage !== undefined && s.storage !== 'local' && s.storage !== 'shared') {
    throw new ValidationError('spec.storage must be local or shared', 'spec.storage');
  }
  return {
    serverId: s.serverId as string,
    vcpus: s.vcpus as number,
    ramMb: s.ramMb as number,
    diskGb: s.diskGb as number,
    ...(image ? { image } : {}),
    ...(s.accelerator ? { accelerator: s.accelerator } : {}),
    ...(s.name !== undefined ? { name: s.name } : {}),
    ...(metadata ? { metadata } : {}),
    ...(s.ephemeralGb ? { ephemeralGb: s.ephemeralGb } : {}),
    ...(topology ? { topology } : {}),
    ...(s.diskBus ? { diskBus: s.diskBus } : {}),
    ...(nics ? { nics } : {}),
    ...(s.storage === 'shared' ? { storage: 'shared' as const } : {}),
  };
}

/** Nova's limits on a server name, metadata keys and values. */
const MAX_TEXT = 255;
/** A sanity bound (Nova's default quota is 128 items); SMBIOS takes what fits, see qemu-smbios.ts. */
export const MAX_METADATA_ITEMS = 1024;
export const MAX_EPHEMERAL_GB = 65_536;
export const MAX_NICS = 16;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const TAP = /^[a-z0-9-]{1,15}$/;

/**
 * User text for QEMU (name, metadata): any Unicode up to `max` characters, but no NUL (it cannot
 * be in an argv string) and no lone surrogate (it is not UTF-8). Everything else goes to QEMU
 * verbatim, commas doubled (qemu-smbios.ts): newlines, quotes and leading dashes included.
 */
function text(value: unknown, field: string, { min = 0, max }: { min?: number; max: number }): string {
  if (typeof value !== 'string') throw new ValidationError(`${field} must be a string`, field);
  const length = [...value].length;
  if (length < min || length > max) throw new ValidationError(`${field} must have ${min} to ${max} characters`, field);
  if (/\u0000|\p{Cs}/u.test(value)) throw new ValidationError(`${field} must not contain NUL or unpaired surrogates`, field);
  return value;
}

function validateMetadata(value: unknown): Record<string, string> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ValidationError('spec.metadata must be an object', 'spec.metadata');
  const entries = Object.entries(value);
  if (entries.length > MAX_METADATA_ITEMS) throw new ValidationError(`spec.metadata has more than ${MAX_METADATA_ITEMS} items`, 'spec.metadata');
  for (const [key, v] of entries) {
    text(key, 'spec.metadata', { min: 1, max: MAX_TEXT });
    text(v, `spec.metadata.${key}`, { max: MAX_TEXT });
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

function validateTopology(value: unknown, vcpus: number): CpuTopology {
  const t = (value ?? {}) as Partial<CpuTopology>;
  for (const part of ['sockets', 'cores', 'threads'] as const) positiveInt(t[part], `spec.topology.${part}`, MAX_VCPUS);
  if (t.sockets! * t.cores! * t.threads! !== vcpus) {
    throw new ValidationError(`spec.topology ${t.sockets}x${t.cores}x${t.threads} does not make ${vcpus} vCPUs`, 'spec.topology');
  }
  return { sockets: t.sockets!, cores: t.cores!, threads: t.threads! };
}

/** NICs: unicast MACs and tap names, each used once. */
export function validateNics(value: unknown): NicSpec[] {
  if (!Array.isArray(value) || value.length > MAX_NICS) throw new ValidationError(`spec.nics must be an array of at most ${MAX_NICS}`, 'spec.nics');
  const nics = value.map((nic: Partial<NicSpec> | null, i): NicSpec => {
    const field = `spec.nics[${i}]`;
    if (!nic || typeof nic !== 'object') throw new ValidationError(`${field} must be an object`, field);
    // Bit 0 of the first octet set: a multicast (or broadcast) address, which no NIC may have.
    if (typeof nic.mac !== 'string' || !MAC.test(nic.mac) || (parseInt(nic.mac.slice(0, 2), 16) & 1) === 1 || nic.mac === '00:00:00:00:00:00') {
      throw new ValidationError(`${field}.mac must be a lower-case unicast MAC address`, `${field}.mac`);
    }
    if (typeof nic.tap !== 'string' || !TAP.test(nic.tap)) throw new ValidationError(`${field}.tap must match [a-z0-9-]{1,15}`, `${field}.tap`);
    if (nic.mtu !== undefined && (!Number.isInteger(nic.mtu) || nic.mtu < 68 || nic.mtu > 65_535)) {
      throw new ValidationError(`${field}.mtu must be an integer between 68 and 65535`, `${field}.mtu`);
    }
    return { mac: nic.mac, tap: nic.tap, ...(nic.mtu !== undefined ? { mtu: nic.mtu } : {}) };
  });
  for (const key of ['mac', 'tap'] as const) {
    const seen = new Set<string>();
    nics.forEach((nic, i) => {
      if (seen.has(nic[key])) throw new ValidationError(`spec.nics[${i}].${key} is used twice`, `spec.nics[${i}].${key}`);
      seen.add(nic[key]);
    });
  }
  return nics;
}

export function validateImageSource(value: unknown): ImageSource {
  if (!value || typeof value !== 'object') throw new ValidationError('spec.image must be an object', 'spec.image');
  const i = value as Partial<ImageSource>;
  if (typeof i.id !== 'string' || i.id.length < 1 || i.id.length > 255) {
    throw new ValidationError('spec.image.id must be a string of 1 to 255 characters', 'spec.image.id');
  }
  if (typeof i.sha256 !== 'string' || !SHA256.test(i.sha256)) {
    throw new ValidationError('spec.image.sha256 must be 64 lower-case hex digits', 'spec.image.sha256');
  }
  positiveInt(i.sizeBytes, 'spec.image.sizeBytes');
  if (!DISK_FORMATS.includes(i.diskFormat as ImageSource['diskFormat'])) {
    throw new ValidationError(`spec.image.diskFormat must be one of ${DISK_FORMATS.join(', ')}`, 'spec.image.diskFormat');
  }
  if (!isHttpUrl(i.url)) throw new ValidationError('spec.image.url must be an http or https URL', 'spec.image.url');
  return { id: i.id, sha256: i.sha256, sizeBytes: i.sizeBytes as number, diskFormat: i.diskFormat!, url: i.url };
}

export function validateStopOptions(value: unknown): StopOptions {
  return { graceSeconds: graceSeconds((value as Partial<StopOptions> | undefined)?.graceSeconds) };
}

export function validateRebootOptions(value: unknown): RebootOptions {
  const type = (value as Partial<RebootOptions> | undefined)?.type;
  if (type !== 'SOFT' && type !== 'HARD') throw new ValidationError('type must be SOFT or HARD', 'type');
  return { type, graceSeconds: graceSeconds((value as Partial<RebootOptions>).graceSeconds) };
}

/** Nova's `length`: -1 or absent is the whole log (as far as the agent keeps it). */
export function validateConsoleLogOptions(value: unknown): ConsoleLogOptions {
  const lines = (value as { lines?: unknown } | undefined)?.lines;
  if (lines === undefined || lines === null || lines === -1) return {};
  if (!Number.isInteger(lines) || (lines as number) < 0) throw new ValidationError('lines must be an integer >= -1', 'lines');
  return { lines: lines as number };
}

export function assertImageId(value: unknown): string {
  if (typeof value !== 'string' || !UUID.test(value)) throw new ValidationError('imageId must be a lower-case UUID', 'imageId');
  return value;
}

const HEADER_NAME = /^[a-z0-9-]{1,64}$/;
const MAX_UPLOAD_HEADERS = 16;

/** The upload target of a snapshot: an http(s) URL and a few plain headers (no line breaks). */
export function validateSnapshotUpload(value: unknown): SnapshotUpload {
  if (!value || typeof value !== 'object') throw new ValidationError('upload must be an object', 'upload');
  const { url, headers } = value as Partial<SnapshotUpload>;
  if (!isHttpUrl(url)) throw new ValidationError('upload.url must be an http or https URL', 'upload.url');
  if (!headers || typeof headers !== 'object' || Array.isArray(headers)) {
    throw new ValidationError('upload.headers must be an object', 'upload.headers');
  }
  const entries = Object.entries(headers);
  if (entries.length > MAX_UPLOAD_HEADERS) throw new ValidationError(`upload.headers has more than ${MAX_UPLOAD_HEADERS} entries`, 'upload.headers');
  for (const [name, v] of entries) {
    if (!HEADER_NAME.test(name) || typeof v !== 'string' || v.length > 1024 || /[\u0000-\u001f\u007f]/.test(v)) {
      throw new ValidationError(`upload.headers has an invalid header ${JSON.stringify(name)}`, 'upload.headers');
    }
  }
  return { url, headers: { ...headers } };
}

function graceSeconds(value: unknown): number {
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > MAX_GRACE_SECONDS) {
    throw new ValidationError(`graceSeconds must be an integer between 0 and ${MAX_GRACE_SECONDS}`, 'graceSeconds');
  }
  return value as number;
}

function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string' || value.length > 4096) return false;
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

function positiveInt(value: unknown, field: string, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > max) {
    throw new ValidationError(`${field} must be an integer between 1 and ${max}`, field);
  }
}
