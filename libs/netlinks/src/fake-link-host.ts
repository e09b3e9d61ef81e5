/**
 * A fake host for tests and simulations: applies planned operations to an ObservedDataPlane the
 * way the kernel would (a deleted device takes its FDB entries with it and frees its ports; a new
 * device is down, unenslaved, at MTU 1500). Pure: returns a new value.
 */
import { LinkOp, ObservedDataPlane, ObservedLink } from './data-plane-types';

let macCounter = 0;
const freshMac = (): string => `02:00:00:00:${((macCounter >> 8) & 0xff).toString(16).padStart(2, '0')}:${(macCounter++ & 0xff).toString(16).padStart(2, '0')}`;

function created(op: LinkOp): ObservedLink | undefined {
  const base = { mtu: 1500, up: false, address: freshMac() };
  switch (op.op) {
    case 'create-bridge':
      return { name: op.name, kind: 'bridge', ...base };
    case 'create-vxlan':
      return { name: op.name, kind: 'vxlan', ...base, vxlan: { vni: op.vni, local: op.local, port: op.port, learning: false, ...(op.device ? { device: op.device } : {}) } };
    case 'create-vlan':
      return { name: op.name, kind: 'vlan', ...base, vlan: { id: op.vlanId, parent: op.parent } };
    case 'create-tap':
      return { name: op.name, kind: 'tun', ...base, tun: { type: 'tap', multiQueue: false, ...(op.owner ? { owner: op.owner } : {}) } };
    default:
      return undefined;
  }
}

export function applyOps(host: ObservedDataPlane, ops: LinkOp[]): ObservedDataPlane {
  let links = host.links.map((link) => ({ ...link }));
  let fdb = host.fdb.map((entry) => ({ ...entry }));
  const find = (name: string): ObservedLink => {
    const link = links.find((l) => l.name === name);
    if (!link) throw new Error(`Cannot find device "${name}"`);
    return link;
  };
  for (const op of ops) {
    const made = created(op);
    if (made) {
      if (links.some((l) => l.name === made.name)) throw new Error(`${made.name}: File exists`);
      links.push(made);
    } else if (op.op === 'delete') {
      find(op.name);
      links = links.filter((l) => l.name !== op.name).map((l) => (l.master === op.name ? { ...l, master: undefined } : l));
      fdb = fdb.filter((entry) => entry.device !== op.name);
    } else if (op.op === 'set') {
      const link = find(op.name);
      if (op.master) find(op.master);
      Object.assign(link, {
        ...(op.address ? { address: op.address } : {}), ...(op.mtu !== undefined ? { mtu: op.mtu } : {}),
        ...(op.master ? { master: op.master } : {}), ...(op.up ? { up: true } : {}),
      });
    } else if (op.op === 'fdb-add') {
      find(op.device);
      fdb.push({ device: op.device, mac: op.mac, dst: op.dst });
    } else if (op.op === 'fdb-del') {
      const before = fdb.length;
      fdb = fdb.filter((e) => !(e.device === op.device && e.mac === op.mac && e.dst === op.dst));
      if (fdb.length === before) throw new Error('RTNETLINK answers: No such file or directory');
    }
  }
  return { links: links.map((l) => (l.master === undefined ? withoutMaster(l) : l)), fdb, kernel: host.kernel };
}

function withoutMaster(link: ObservedLink): ObservedLink {
  const { master: _master, ...rest } = link;
  return rest;
}
