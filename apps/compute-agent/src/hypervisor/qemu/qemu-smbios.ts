/**
 * What the guest can read about itself from SMBIOS (dmidecode, /sys/class/dmi/id):
 *
 *   type 1 (system)   manufacturer=Nubo, product=Nubo Compute, serial and uuid = the server id
 *   type 11 (OEM strings, `dmidecode -t 11`), in this order:
 *     io.nubo.name:<display name>
 *     io.nubo.meta.<key>:<value>       one per metadata item, keys sorted
 *     io.nubo.meta-omitted:<count>     only when items did not fit (see below)
 *
 * Escaping rule: the name, keys and values are user text and reach QEMU verbatim (newlines,
 * quotes, `=`, leading dashes, any Unicode) except that every comma is doubled, QEMU's one escape
 * inside an option value; the spec's validation refuses NUL (argv strings cannot hold it). In a
 * key, `%` and `:` are written `%25` and `%3A`, so a guest splits an item at its first `:`.
 *
 * The whole SMBIOS table must stay under 64 KiB (QEMU refuses more with the 2.1 entry point that
 * q35 uses), so type 11 gets a budget: the name always, then metadata items in key order while
 * they fit; the count of items left out is reported. The metadata service is the complete source.
 */
import { InstanceSpec } from '@nubo/contracts';
import { escapeOptionValue } from './qemu-option-syntax';

/** Bytes of OEM strings (each with its NUL), well inside the 64 KiB of the whole table. */
export const SMBIOS_OEM_BUDGET = 32 * 1024;

export const SMBIOS_MANUFACTURER = 'Nubo';
export const SMBIOS_PRODUCT = 'Nubo Compute';

/** The OEM strings (type 11) of a spec, unescaped: what the guest reads. */
export function oemStrings(spec: Pick<InstanceSpec, 'name' | 'metadata'>, budget = SMBIOS_OEM_BUDGET): string[] {
  const strings: string[] = [];
  let used = 0;
  const add = (value: string) => {
    strings.push(value);
    used += Buffer.byteLength(value) + 1;
  };
  if (spec.name !== undefined) add(`io.nubo.name:${spec.name}`);
  const items = Object.entries(spec.metadata ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  let omitted = 0;
  for (const [key, value] of items) {
    const item = `io.nubo.meta.${encodeKey(key)}:${value}`;
    // Room is kept for the omitted-count string.
    if (used + Buffer.byteLength(item) + 1 + 32 > budget) omitted += 1;
    else add(item);
  }
  if (omitted > 0) add(`io.nubo.meta-omitted:${omitted}`);
  return strings;
}

export function smbiosArgs(spec: InstanceSpec): string[] {
  const args = ['-smbios', `type=1,manufacturer=${SMBIOS_MANUFACTURER},product=${SMBIOS_PRODUCT},serial=${spec.serverId},uuid=${spec.serverId}`];
  const strings = oemStrings(spec);
  if (strings.length > 0) args.push('-smbios', ['type=11', ...strings.map((s) => `value=${escapeOptionValue(s)}`)].join(','));
  return args;
}

function encodeKey(key: string): string {
  return key.replace(/%/g, '%25').replace(/:/g, '%3A');
}
