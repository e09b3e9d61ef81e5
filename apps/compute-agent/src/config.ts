/**
 * The agent's configuration, read once at boot. The agent talks to NATS only: it has no database
 * or Redis settings, on purpose.
 */
import { ConfigError, ConfigOf, env, loadConfig, natsOnlySchema } from '@nubo/config';
import { isIP } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { isAbsolute } from 'node:path';
import { statfsSync } from 'node:fs';
import { HostCapacity } from '@nubo/contracts';
import { parsePhysicalInterfaces } from '@nubo/netlinks';
import { maxStateDirLength } from './hypervisor/qemu/qemu-argv';
import { resolveQemuUser } from './hypervisor/qemu/qemu-user';
import { simulatedHostId } from './simulation/simulated-inventory';

/** An optional integer whose default is computed after loading (it depends on the host). */
const optionalInt = (o: { min: number; max?: number }) => ({
  parse(raw: string | undefined, name: string): number | undefined {
    if (raw === undefined || raw === '') return undefined;
    return env.int(o).parse(raw, name);
  },
});

/** A user name, or '' (set but empty: QEMU runs as the agent); unset stays undefined (the default). */
const qemuUserField = {
  parse(raw: string | undefined, name: string): string | undefined {
    if (raw === undefined || raw === '') return raw;
    if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(raw)) throw new Error(`${name} must be a user name ([a-z_][a-z0-9_-], at most 32)`);
    return raw;
  },
};

export const agentSchema = {
  ...natsOnlySchema,
  /** Becomes a NATS subject token and part of namespace names. */
  NUBO_HOST_ID: env.string({ pattern: /^[A-Za-z0-9_-]{1,64}$/ }),
  NUBO_AGENT_STATE_DIR: env.string(),
  /** Network namespace that holds this host's data plane (the all-in-one cloud: nubo-h1, ...). */
  NUBO_AGENT_NETNS: env.optionalString(),
  NUBO_AGENT_ACCEL: env.oneOf(['auto', 'kvm', 'tcg'] as const, { default: 'auto' }),
  NUBO_AGENT_DRIVER: env.oneOf(['qemu', 'fake'] as const, { default: 'qemu' }),
  NUBO_AGENT_QEMU_BINARY: env.string({ default: 'qemu-system-x86_64' }),
  NUBO_AGENT_HEARTBEAT_MS: env.int({ default: 1_000, min: 100 }),
  /**
   * Self-fencing (agent/lease-watchdog.ts): with no lease renewal granted for this long (from the
   * sending of the last one), the agent kills every QEMU of its host and refuses every command
   * until it rejoins. Well past the scheduler's NUBO_HOST_DOWN_AFTER_MS (6 s): a control plane briefly away costs no VM; the
   * agent also never waits past the lease the scheduler grants (NUBO_HOST_LEASE_MS 15 s) minus 2 s.
   */
  NUBO_AGENT_FENCE_TIMEOUT_MS: env.int({ default: 13_000, min: 1_000 }),
  NUBO_AGENT_VCPUS: optionalInt({ min: 1 }),
  NUBO_AGENT_RAM_MB: optionalInt({ min: 1 }),
  NUBO_AGENT_DISK_GB: optionalInt({ min: 0 }),
  NUBO_AGENT_UNDERLAY_IP: env.optionalString(),
  /** The underlay interface VXLAN devices are bound to (optional). */
  NUBO_AGENT_UNDERLAY_DEVICE: env.optionalString(),
  /** Neutron's physical_interface_mappings for flat and vlan networks: `physnet1:eth1,physnet2:veth-ext`. */
  NUBO_AGENT_PHYSICAL_INTERFACES: env.string({ default: '' }),
  NUBO_AGENT_HEALTH_PORT: optionalInt({ min: 1, max: 65535 }),
  /** A cached base image no instance on the host has used for this long is deleted (0: at once). */
  NUBO_AGENT_IMAGE_TTL_S: env.int({ default: 86_400, min: 0 }),
  /** How often the image cache is swept. */
  NUBO_AGENT_IMAGE_SWEEP_S: env.int({ default: 600, min: 1 }),
  /** The user QEMU runs as. Unset: nubo-qemu when it exists and the agent runs as root; '': none. */
  NUBO_AGENT_QEMU_USER: qemuUserField,
  /** on: turn kernel samepage merging on at boot (never off: other agents may share the kernel). */
  NUBO_AGENT_KSM: env.oneOf(['on', 'off'] as const, { default: 'off' }),
  /**
   * The cloud's shared storage (an NFS mount, or one directory for every host of the all-in-one
   * cloud): the same path on every host. Set: the host runs `nubo:storage=shared` servers and
   * reports the CUSTOM_NUBO_SHARED_STORAGE trait.
   */
  NUBO_AGENT_SHARED_STORAGE_DIR: env.optionalString(),
  /** Empty PCIe root ports each QEMU gets for NICs hot-plugged later (os-interface attach). */
  NUBO_AGENT_HOTPLUG_PORTS: env.int({ default: 4, min: 0, max: 32 }),
  /** Scale tests: run this many fake hosts (<NUBO_HOST_ID>-s0001 ...) in this process instead of one (driver fake only). */
  NUBO_AGENT_SIMULATED_HOSTS: env.int({ default: 0, min: 0, max: 10_000 }),
  /** Seed of the simulated hosts' inventories (the same seed gives the same hosts). */
  NUBO_AGENT_SIMULATED_SEED: env.int({ default: 1, min: 0 }),
  /** Heartbeat period of each simulated host (staggered over the period); default SIMULATED_HEARTBEAT_DEFAULT_MS. */
  NUBO_AGENT_SIMULATED_HEARTBEAT_MS: optionalInt({ min: 100 }),
};

/** Simulated hosts' heartbeat period unless set: under a third of the scheduler's NUBO_HOST_DOWN_AFTER_MS (6 s). */
export const SIMULATED_HEARTBEAT_DEFAULT_MS = 2_000;

export interface AgentConfig extends ConfigOf<typeof agentSchema> {
  capacity: HostCapacity;
  /** NUBO_AGENT_QEMU_USER resolved: the user QEMU runs as, or '' for none. */
  qemuUser: string;
  /** NUBO_AGENT_PHYSICAL_INTERFACES parsed: physical network -> interface. */
  physicalInterfaces: Record<string, string>;
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** Loads and cross-checks the agent's settings; throws ConfigError listing every problem. */
export function loadAgentConfig(source: NodeJS.ProcessEnv = process.env): AgentConfig {
  const raw = loadConfig(agentSchema, source);
  const problems: string[] = [];
  const maxDir = maxStateDirLength();
  if (!isAbsolute(raw.NUBO_AGENT_STATE_DIR) || /[\u0000-\u001f\u007f]/.test(raw.NUBO_AGENT_STATE_DIR)) {
    problems.push('NUBO_AGENT_STATE_DIR must be an absolute path without control characters');
  }
  if (Buffer.byteLength(raw.NUBO_AGENT_STATE_DIR) > maxDir) {
    problems.push(`NUBO_AGENT_STATE_DIR must be at most ${maxDir} bytes (QMP sockets live under it)`);
  }
  if (raw.NUBO_AGENT_NETNS !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(raw.NUBO_AGENT_NETNS)) {
    problems.push('NUBO_AGENT_NETNS must be a namespace name ([A-Za-z0-9_.-], at most 64)');
  }
  if (raw.NUBO_AGENT_SIMULATED_HOSTS > 0 && raw.NUBO_AGENT_DRIVER !== 'fake') {
    problems.push('NUBO_AGENT_SIMULATED_HOSTS needs NUBO_AGENT_DRIVER=fake');
  }
  if (raw.NUBO_AGENT_SIMULATED_HOSTS > 0 && simulatedHostId(raw.NUBO_HOST_ID, raw.NUBO_AGENT_SIMULATED_HOSTS).length > 64) {
    problems.push('NUBO_HOST_ID is too long for simulated host ids (<id>-sNNNN, at most 64)');
  }
  if (raw.NUBO_AGENT_UNDERLAY_IP !== undefined && !isIP(raw.NUBO_AGENT_UNDERLAY_IP)) {
    problems.push('NUBO_AGENT_UNDERLAY_IP must be an IPv4 or IPv6 address');
  }
  if (raw.NUBO_AGENT_UNDERLAY_DEVICE !== undefined && !IFNAME.test(raw.NUBO_AGENT_UNDERLAY_DEVICE)) {
    problems.push('NUBO_AGENT_UNDERLAY_DEVICE must be an interface name ([A-Za-z0-9_.-], at most 15)');
  }
  const shared = raw.NUBO_AGENT_SHARED_STORAGE_DIR;
  if (shared !== undefined && (!isAbsolute(shared) || /[\u0000-\u001f\u007f]/.test(shared))) {
    problems.push('NUBO_AGENT_SHARED_STORAGE_DIR must be an absolute path without control characters');
  }
  const physicalInterfaces = parsePhysicalInterfaces(raw.NUBO_AGENT_PHYSICAL_INTERFACES, problems, 'NUBO_AGENT_PHYSICAL_INTERFACES');
  let qemuUser = '';
  try {
    qemuUser = resolveQemuUser(raw.NUBO_AGENT_QEMU_USER)?.name ?? '';
  } catch (error) {
    problems.push(`NUBO_AGENT_QEMU_USER: ${(error as Error).message}`);
  }
  if (problems.length) throw new ConfigError(problems);
  return {
    ...raw,
    qemuUser,
    physicalInterfaces,
    capacity: {
      vcpus: raw.NUBO_AGENT_VCPUS ?? cpus().length,
      ramMb: raw.NUBO_AGENT_RAM_MB ?? Math.floor(totalmem() / 2 ** 20),
      diskGb: raw.NUBO_AGENT_DISK_GB ?? freeDiskGb(raw.NUBO_AGENT_STATE_DIR),
    },
  };
}

/** For main.ts: print every problem and exit 78 (EX_CONFIG), like loadConfigOrExit. */
export function loadAgentConfigOrExit(): AgentConfig {
  try {
    return loadAgentConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`compute-agent: ${error.message}\n`);
    process.exit(78);
  }
}

/** Free space where instances live, or at the nearest existing parent before the dir exists. */
function freeDiskGb(dir: string): number {
  for (let path = dir; ; path = path.slice(0, Math.max(path.lastIndexOf('/'), 1))) {
    try {
      const stats = statfsSync(path);
      return Math.floor((stats.bavail * stats.bsize) / 2 ** 30);
    } catch {
      if (path === '/') return 0;
    }
  }
}
