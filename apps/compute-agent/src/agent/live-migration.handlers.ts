/**
 * The agent's live-migration operations (agent.<hostId>.server.migration-*), see
 * libs/contracts live-migration.contract.ts. Mutations of the server run under its lock; `status`,
 * `adjust`, `cancel` and `dirtyRate` do not: they must answer while `start` waits for the disk
 * mirrors (a cancel then stops the mirrors and the start fails cleanly).
 */
import { AgentCommand, AgentMigrationOps, MigrationRef, UnsupportedError, ValidationError } from '@nubo/contracts';
import { HandlerContext } from '@nubo/messaging';
import { isIP } from 'node:net';
import { HypervisorDriver } from '../hypervisor/hypervisor-driver';
import { assertServerId, validateInstanceSpec } from '../hypervisor/instance-spec';
import { LiveMigrationDriver, MigrationIds } from '../hypervisor/live-migration-driver';
import { validateChannelOptions, validateDowntimeLimit, validateMigrationParameters } from '../hypervisor/qemu/migration-params';
import type { RpcRegistrar } from './agent.service';

type Serialized = <T>(op: string, serverId: string, request: AgentCommand, ctx: HandlerContext, task: () => Promise<T>) => Promise<T>;
type Fresh = (request: AgentCommand | undefined, op: string, ctx: HandlerContext) => void;

const MIGRATION_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

function ip(value: unknown, field: string): string {
  if (typeof value !== 'string' || !isIP(value)) throw new ValidationError(`${field} must be an IP address`, field);
  return value;
}

function port(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) throw new ValidationError(`${field} must be a TCP port`, field);
  return value;
}

export function migrationIds(request: MigrationRef): MigrationIds {
  const serverId = assertServerId(request?.serverId);
  if (typeof request.migrationId !== 'string' || !MIGRATION_ID.test(request.migrationId)) {
    throw new ValidationError('migrationId must be 1-64 letters, digits, - or _', 'migrationId');
  }
  return { serverId, migrationId: request.migrationId };
}

export class LiveMigrationHandlers {
  constructor(
    private readonly driver: HypervisorDriver,
    private readonly serialized: Serialized,
    private readonly assertFresh: Fresh,
  ) {}

  register(server: RpcRegistrar, on: (op: string) => string): string[] {
    const ops = AgentMigrationOps;
    server.handle(on(ops.prepare.op), ops.prepare, (req, ctx) => this.locked('migrationPrepare', req, ctx, (m, ids) => {
      const spec = validateInstanceSpec(req.spec);
      if (spec.serverId !== ids.serverId) throw new ValidationError('spec.serverId must match serverId', 'spec.serverId');
      if (typeof req.block !== 'boolean') throw new ValidationError('block must be a boolean', 'block');
      const input = { ...ids, spec, sourceAddress: ip(req.sourceAddress, 'sourceAddress'), listenAddress: ip(req.listenAddress, 'listenAddress'), block: req.block, channels: validateChannelOptions(req.channels) };
      return () => m.prepare(input);
    }));
    server.handle(on(ops.start.op), ops.start, (req, ctx) => this.locked('migrationStart', req, ctx, (m, ids) => {
      const d = req.destination ?? ({} as typeof req.destination);
      const nbd = d.nbd ? { port: port(d.nbd.port, 'destination.nbd.port'), exports: validateExports(d.nbd.exports) } : undefined;
      const input = { ...ids, destination: { address: ip(d.address, 'destination.address'), port: port(d.port, 'destination.port'), ...(nbd ? { nbd } : {}) }, parameters: validateMigrationParameters(req.parameters), deadline: req.deadline };
      return async () => (await m.start(input), {});
    }));
    server.handle(on(ops.status.op), ops.status, (req, ctx) => this.free('migrationStatus', req, ctx, (m, ids) => m.status(ids)));
    server.handle(on(ops.adjust.op), ops.adjust, (req, ctx) => this.free('migrationAdjust', req, ctx, async (m, ids) => {
      if (req.startPostcopy !== undefined && typeof req.startPostcopy !== 'boolean') throw new ValidationError('startPostcopy must be a boolean', 'startPostcopy');
      const downtimeLimitMs = req.downtimeLimitMs === undefined ? undefined : validateDowntimeLimit(req.downtimeLimitMs);
      await m.adjust(ids, { downtimeLimitMs, startPostcopy: req.startPostcopy });
      return {};
    }));
    server.handle(on(ops.cancel.op), ops.cancel, (req, ctx) => this.free('migrationCancel', req, ctx, async (m, ids) => ({ cancelled: await m.cancel(ids) })));
    server.handle(on(ops.finish.op), ops.finish, (req, ctx) => this.locked('migrationFinish', req, ctx, (m, ids) => async () => (await m.finish(ids), {})));
    server.handle(on(ops.abortDestination.op), ops.abortDestination, (req, ctx) =>
      this.locked('migrationAbortDestination', req, ctx, (m, ids) => async () => ({ aborted: await m.abortDestination(ids) })),
    );
    server.handle(on(ops.cleanupSource.op), ops.cleanupSource, (req, ctx) =>
      this.locked('migrationCleanupSource', req, ctx, (m, ids) => async () => ({ cleaned: await m.cleanupSource(ids) })),
    );
    server.handle(on(ops.dirtyRate.op), ops.dirtyRate, (req, ctx) => this.free('migrationDirtyRate', req, ctx, async (m, ids) => {
      if (typeof req.seconds !== 'number' || !Number.isInteger(req.seconds) || req.seconds < 1 || req.seconds > 60) throw new ValidationError('seconds must be an integer from 1 to 60', 'seconds');
      return { dirtyRateMibPerSec: await m.dirtyRate(ids, req.seconds) };
    }));
    return Object.values(ops).map((c) => on(c.op));
  }

  private migration(): LiveMigrationDriver {
    const m = this.driver.liveMigration;
    if (!m) throw new UnsupportedError(`the ${this.driver.name} driver cannot migrate live`);
    return m;
  }

  /** Validated before the lock is taken (a bad request waits for nothing); run under it. */
  private locked<T>(op: string, req: MigrationRef, ctx: HandlerContext, prepare: (m: LiveMigrationDriver, ids: MigrationIds) => () => Promise<T>): Promise<T> {
    this.assertFresh(req, op, ctx);
    const ids = migrationIds(req);
    const task = prepare(this.migration(), ids);
    return this.serialized(op, ids.serverId, req, ctx, task);
  }

  private async free<T>(op: string, req: MigrationRef, ctx: HandlerContext, task: (m: LiveMigrationDriver, ids: MigrationIds) => Promise<T>): Promise<T> {
    this.assertFresh(req, op, ctx);
    return task(this.migration(), migrationIds(req));
  }
}

function validateExports(input: unknown): Array<{ node: string; name: string }> {
  if (!Array.isArray(input) || input.length > 8) throw new ValidationError('destination.nbd.exports must be a list of at most 8', 'destination.nbd.exports');
  return input.map((e: { node?: unknown; name?: unknown }, i) => {
    const ok = (v: unknown) => typeof v === 'string' && /^[A-Za-z][A-Za-z0-9_-]{0,30}$/.test(v);
    if (!ok(e?.node) || !ok(e?.name)) throw new ValidationError(`destination.nbd.exports[${i}] must have a node and a name`, `destination.nbd.exports[${i}]`);
    return { node: e.node as string, name: e.name as string };
  });
}
