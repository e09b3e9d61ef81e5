/** Servers for the domain XML specs (unit and virt-xml-validate), with names meant to break escaping. */
import { DomainXmlImage, DomainXmlServer } from './domain-xml';

export const HOSTILE_NAMES = [
  `quotes "double" and 'single'`,
  '<domain type="kvm"> & </domain>',
  'already &amp; escaped &#60; ]]> <!-- -->',
  'two\nlines\r\nand\ttab',
  'ünïcødé 名前 🚀 \u200b',
  'control \u0001\u0008\u001f chars \ufffe',
  '/slash/ ../../etc/passwd',
];

export const IMAGE: DomainXmlImage = {
  id: '11111111-2222-4333-8444-555555555555',
  diskFormat: 'qcow2',
  sha256: 'ab'.repeat(32),
  properties: { hypervisor_type: 'qemu', os_distro: 'debian' },
};

export const IMAGE_BACKED: DomainXmlServer = {
  id: '3f1e2d4c-5b6a-4789-8abc-def012345678',
  name: 'web-1',
  projectId: '0a1b2c3d4e5f40718293a4b5c6d7e8f9',
  flavorId: 'f-small',
  flavor: { vcpus: 2, ramMb: 1024, diskGb: 10, name: 'm1.small' },
  imageRef: IMAGE.id,
};

export const FIRMWARE_ONLY: DomainXmlServer = {
  ...IMAGE_BACKED,
  id: '9e8d7c6b-5a49-4382-9716-05f4e3d2c1b0',
  name: 'firmware "only" <&>',
  flavorId: '1',
  flavor: { vcpus: 1, ramMb: 64, diskGb: 0, name: 'm1.nano' },
  imageRef: null,
};
