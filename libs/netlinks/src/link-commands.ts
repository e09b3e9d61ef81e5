/**
 * One iproute2 command per operation, as argument arrays (never a shell). With a namespace, every
 * command runs there through `ip -n` / `bridge -n`, which also covers `ip tuntap`. Pure.
 */
import { LinkOp } from './data-plane-types';

export type LinkTool = 'ip' | 'bridge';

export interface LinkCommand {
  file: LinkTool;
  args: string[];
}

function inNs(file: LinkTool, netns: string | undefined, args: string[]): LinkCommand {
  return { file, args: netns ? ['-n', netns, ...args] : args };
}

export function opCommand(op: LinkOp, netns?: string): LinkCommand {
  switch (op.op) {
    case 'delete':
      return inNs('ip', netns, ['link', 'del', 'dev', op.name]);
    case 'create-bridge':
      return inNs('ip', netns, ['link', 'add', 'name', op.name, 'type', 'bridge']);
    case 'create-vxlan':
      return inNs('ip', netns, [
        'link', 'add', 'name', op.name, 'type', 'vxlan', 'id', String(op.vni), 'local', op.local,
        'dstport', String(op.port), 'nolearning', ...(op.device ? ['dev', op.device] : []),
      ]);
    case 'create-vlan':
      return inNs('ip', netns, ['link', 'add', 'link', op.parent, 'name', op.name, 'type', 'vlan', 'id', String(op.vlanId)]);
    case 'create-tap':
      return inNs('ip', netns, ['tuntap', 'add', 'dev', op.name, 'mode', 'tap', ...(op.owner ? ['user', op.owner] : [])]);
    case 'set':
      return inNs('ip', netns, [
        'link', 'set', 'dev', op.name,
        ...(op.address ? ['address', op.address] : []),
        ...(op.mtu !== undefined ? ['mtu', String(op.mtu)] : []),
        ...(op.master ? ['master', op.master] : []),
        ...(op.up ? ['up'] : []),
      ]);
    case 'fdb-add':
      // append: a VXLAN device keeps one all-zero entry per remote; `add` would refuse the second.
      return inNs('bridge', netns, ['fdb', 'append', op.mac, 'dev', op.device, 'dst', op.dst, 'self', 'permanent']);
    case 'fdb-del':
      return inNs('bridge', netns, ['fdb', 'del', op.mac, 'dev', op.device, 'dst', op.dst, 'self']);
  }
}

/** A short human description of an operation, for logs and error messages. */
export function describeOp(op: LinkOp): string {
  switch (op.op) {
    case 'delete':
      return `delete ${op.name} (${op.reason})`;
    case 'create-bridge':
      return `create bridge ${op.name}`;
    case 'create-vxlan':
      return `create vxlan ${op.name} (VNI ${op.vni}, local ${op.local}:${op.port}${op.device ? ` dev ${op.device}` : ''})`;
    case 'create-vlan':
      return `create vlan ${op.name} (id ${op.vlanId} on ${op.parent})`;
    case 'create-tap':
      return `create tap ${op.name}${op.owner ? ` (user ${op.owner})` : ''}`;
    case 'set':
      return `set ${op.name}${op.address ? ` address ${op.address}` : ''}${op.mtu !== undefined ? ` mtu ${op.mtu}` : ''}${op.master ? ` master ${op.master}` : ''}${op.up ? ' up' : ''}`;
    case 'fdb-add':
      return `add fdb ${op.mac} dst ${op.dst} on ${op.device}`;
    case 'fdb-del':
      return `delete fdb ${op.mac} dst ${op.dst} on ${op.device}`;
  }
}
