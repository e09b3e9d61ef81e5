/**
 * The agent's cold-migration operations (agent.<hostId>.server.cold-migration-*), see
 * libs/contracts cold-migration.contract.ts. Requests are validated before the server's lock is
 * taken; every operation but `disks` (a read) runs under it, so a copy never races a start.
 */
import {
  AgentColdMigrationOps,
  AgentCommand,
  ColdDisk,
  ColdExport,
  ColdMigrationRef,
  UnsupportedError,
  ValidationError,
} from '@nubo/contracts';
import { HandlerContext } from '@nubo/messaging';
import { isIP } from 'node:net';
import { ColdMigrationDriver } from '../hypervisor/cold-migration-driver';
import { HypervisorDriver } from '../hypervisor/hypervisor-driver';
import { validateInstanceSpec } from '../hypervisor/instance-spec';
import { MigrationIds } from '../hypervisor/live-migration-driver';
import { assertExportName } from '../hypervisor/qemu/qemu-disk-transfer';
import type { RpcRegistrar } from './agent.service';
import { migrationIds } from './live-migration.handlers';

type Serialized = <T>(op: string, serverId: string, request: AgentCommand, ctx: HandlerContext, task: () => Promise<T>) => Promise<T>;
type Fresh = (request: AgentCommand | undefined, op: string, ctx: HandlerContext) => void;

const DISK_NAMES = ['disk', 'ephemeral'] as const;
const SHA256 = /^[0-9a-f]{64}$/;

function ip(value: unknown, field: string): string {
  if (typeof value !== 'string' || !isIP(value)) throw new ValidationError(`${field} must be an IP address`, field);
  return value;
}

/** At most one of each disk, each a positive whole number of bytes (pure). */
export function validateColdDisks(input: unknown): ColdDisk[] {
  if (!Array.isArray(input) || input.length > DISK_NAMES.length) throw new ValidationError('disks must be a list of at most 2', 'disks');
  const seen = new Set<string>();
  return input.map((d: { name?: unknown; virtualSize?: unknown }, i) => {
    if (!DISK_NAMES.includes(d?.name as never) || seen.has(d.name as string)) throw new ValidationError(`disks[${i}].name must be disk or ephemeral, once each`, `disks[${i}].name`);
    if (typeof d.virtualSize !== 'number' || !Number.isSafeInteger(d.virtualSize) || d.virtualSize <= 0) {
      throw new ValidationError(`disks[${i}].virtualSize must be a positive integer`, `disks[${i}].virtualSize`);
    }
    seen.add(d.name as string);
    return { name: d.name as ColdDisk['name'], virtualSize: d.virtualSize };
  });
}

/** The destination's exports: one per disk, TCP ports, export names as prepare makes them (pure). */
export function validateColdExports(input: unknown): ColdExport[] {
  if (!Array.isArray(input) || input.length > DISK_NAMES.length) throw new ValidationError('destination.exports must be a list of at most 2', 'destination.exports');
  const seen = new Set<string>();
  return input.map((e: { disk?: unknown; port?: unknown; name?: unknown }, i) => {
    const field = `destination.exports[${i}]`;
    if (!DISK_NAMES.includes(e?.disk as never) || seen.has(e.disk as string)) throw new ValidationError(`${field}.disk must be disk or ephemeral, once each`, `${field}.disk`);
    if (typeof e.port !== 'number' || !Number.isInteger(e.port) || e.port < 1 || e.port > 65535) throw new ValidationError(`${field}.port must be a TCP port`, `${field}.port`);
    seen.add(e.disk as string);
    return { disk: e.disk as ColdExport['disk'], port: e.port, name: assertExportName(e.name, `${field}.name`) };
  });
}

export class ColdMigrationHandlers {
  constructor(
    private readonly driver: HypervisorDriver,
    private readonly serialized: Serialized,
    private readonly assertFresh: Fresh,
  ) {}

  register(server: RpcRegistrar, on: (op: string) => string): string[] {
    const ops = AgentColdMigrationOps;
    server.handle(on(ops.disks.op), ops.disks, async (req, ctx) => {
      this.assertFresh(req, 'coldMigrationDisks', ctx);
      return this.cold().disks(migrationIds(req));
    });
    server.handle(on(ops.prepare.op), ops.prepare, (req, ctx) => this.locked('coldMigrationPrepare', req, ctx, (m, ids) => {
      const spec = validateInstanceSpec(req.spec);
      if (spec.serverId !== ids.serverId) throw new ValidationError('spec.serverId must match serverId', 'spec.serverId');
      if (req.baseSha256 !== undefined && (typeof req.baseSha256 !== 'string' || !SHA256.test(req.baseSha256))) throw new ValidationError('baseSha256 must be a sha256', 'baseSha256');
      const input = { ...ids, spec, disks: validateColdDisks(req.disks), baseSha256: req.baseSha256, sourceAddress: ip(req.sourceAddress, 'sourceAddress'), listenAddress: ip(req.listenAddress, 'listenAddress') };
      return () => m.prepare(input);
    }));
    server.handle(on(ops.transfer.op), ops.transfer, (req, ctx) => this.locked('coldMigrationTransfer', req, ctx, (m, ids) => {
      const d = req.destination ?? ({} as typeof req.destination);
      const input = { ...ids, destination: { address: ip(d.address, 'destination.address'), exports: validateColdExports(d.exports) }, deadline: req.deadline };
      return () => m.transfer(input);
    }));
    server.handle(on(ops.finish.op), ops.finish, (req, ctx) => this.locked('coldMigrationFinish', req, ctx, (m, ids) => {
      const spec = validateInstanceSpec(req.spec);
      if (spec.serverId !== ids.serverId) throw new ValidationError('spec.serverId must match serverId', 'spec.serverId');
      if (typeof req.powerOn !== 'boolean') throw new ValidationError('powerOn must be a boolean', 'powerOn');
      return () => m.finish({ ...ids, spec, powerOn: req.powerOn });
    }));
    server.handle(on(ops.abort.op), ops.abort, (req, ctx) => this.locked('coldMigrationAbort', req, ctx, (m, ids) => async () => ({ aborted: await m.abort(ids) })));
    return Object.values(ops).map((c) => on(c.op));
  }

  private cold(): ColdMigrationDriver {
    const m = this.driver.coldMigration;
    if (!m) throw new UnsupportedError(`the ${this.driver.name} driver cannot migrate cold`);
    return m;
  }

  private locked<T>(op: string, req: ColdMigrationRef, ctx: HandlerContext, prepare: (m: ColdMigrationDriver, ids: MigrationIds) => () => Promise<T>): Promise<T> {
    this.assertFresh(req, op, ctx);
    const ids = migrationIds(req);
    const task = prepare(this.cold(), ids);
    return this.serialized(op, ids.serverId, req, ctx, task);
  }
}
