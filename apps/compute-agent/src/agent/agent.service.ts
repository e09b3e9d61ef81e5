/**
 * The agent's RPC operations (agent.<hostId>.server.*). Every command carries a deadline: core
 * NATS may deliver a buffered request after a reconnect and BullMQ re-runs stalled jobs, so a
 * command past its deadline is refused rather than acted on late. Mutations of one server run
 * one at a time, in arrival order.
 */
import { Logger } from '@nestjs/common';
import {
  AgentCommand,
  AgentOps,
  BalloonReply,
  BalloonSetRequest,
  ConsoleLogReply,
  ConsoleLogRequest,
  DestroyReply,
  DestroyRequest,
  InstanceSpec,
  InstanceStatus,
  PowerState,
  RebootRequest,
  ServerRef,
  SnapshotReply,
  SnapshotRequest,
  SpawnRequest,
  StartRequest,
  StopRequest,
  ValidationError,
  subjects,
} from '@nubo/contracts';
import { HandlerContext, RpcServer } from '@nubo/messaging';
import { HypervisorDriver } from '../hypervisor/hypervisor-driver';
import {
  assertImageId,
  assertServerId,
  validateConsoleLogOptions,
  validateInstanceSpec,
  validateRebootOptions,
  validateSnapshotUpload,
  validateStopOptions,
} from '../hypervisor/instance-spec';
import { assertFresh } from './command-freshness';
import { KeyedMutex } from './keyed-mutex';
import { RebuildRequest, ResizeRequest, RevertResizeRequest } from '@nubo/contracts';
import { AgentInterfaceOps, InterfaceAttachRequest, InterfaceDetachRequest, InterfaceReply, UnsupportedError } from '@nubo/contracts';
import { detachTimeoutMs, validateInterfaceNic } from './interface-request';
import { validateRebuildOptions, validateResizeOptions } from '../hypervisor/rebuild-resize-options';
import { LiveMigrationHandlers } from './live-migration.handlers';
import type { LeaseWatchdog } from './lease-watchdog';
import { ColdMigrationHandlers } from './cold-migration.handlers';

/** The part of RpcServer the service needs; tests pass a map of handlers instead. */
export type RpcRegistrar = Pick<RpcServer, 'handle'>;

export interface AgentServiceOptions {
  hostId: string;
  driver: HypervisorDriver;
  /** Epoch milliseconds; injectable for tests. */
  now?: () => number;
  /** The host's lease (lease-watchdog.ts): fenced, joining or stale-epoch commands are refused. Absent: no lease checks. */
  guard?: Pick<LeaseWatchdog, 'assertAllowed' | 'assertMayBoot'>;
}

export class AgentService {
  private readonly logger = new Logger(AgentService.name);
  private readonly locks = new KeyedMutex();
  private readonly hostId: string;
  private readonly driver: HypervisorDriver;
  private readonly now: () => number;
  private readonly guard?: AgentServiceOptions['guard'];

  constructor(options: AgentServiceOptions) {
    this.hostId = options.hostId;
    this.driver = options.driver;
    this.now = options.now ?? Date.now;
    this.guard = options.guard;
  }

  /** Registers every agent operation on this host's subjects. */
  register(server: RpcRegistrar): string[] {
    const on = (op: string) => subjects.agent(this.hostId, op);
    server.handle(on(AgentOps.spawn.op), AgentOps.spawn, (req, ctx) => this.spawn(req, ctx));
    server.handle(on(AgentOps.destroy.op), AgentOps.destroy, (req, ctx) => this.destroy(req, ctx));
    server.handle(on(AgentOps.status.op), AgentOps.status, (req, ctx) => this.status(req, ctx));
    server.handle(on(AgentOps.list.op), AgentOps.list, (req, ctx) => this.list(req, ctx));
    server.handle(on(AgentOps.stop.op), AgentOps.stop, (req, ctx) => this.stop(req, ctx));
    server.handle(on(AgentOps.start.op), AgentOps.start, (req, ctx) => this.start(req, ctx));
    server.handle(on(AgentOps.reboot.op), AgentOps.reboot, (req, ctx) => this.reboot(req, ctx));
    server.handle(on(AgentOps.pause.op), AgentOps.pause, (req, ctx) => this.pause(req, ctx));
    server.handle(on(AgentOps.unpause.op), AgentOps.unpause, (req, ctx) => this.unpause(req, ctx));
    server.handle(on(AgentOps.suspend.op), AgentOps.suspend, (req, ctx) => this.suspend(req, ctx));
    server.handle(on(AgentOps.resume.op), AgentOps.resume, (req, ctx) => this.resume(req, ctx));
    server.handle(on(AgentOps.consoleLog.op), AgentOps.consoleLog, (req, ctx) => this.consoleLog(req, ctx));
    server.handle(on(AgentOps.snapshot.op), AgentOps.snapshot, (req, ctx) => this.snapshot(req, ctx));
    server.handle(on(AgentOps.balloonInfo.op), AgentOps.balloonInfo, (req, ctx) => this.balloonInfo(req, ctx));
    server.handle(on(AgentOps.balloonSet.op), AgentOps.balloonSet, (req, ctx) => this.balloonSet(req, ctx));
    const ops = [AgentOps.spawn, AgentOps.destroy, AgentOps.status, AgentOps.list, AgentOps.stop, AgentOps.start];
    const more = [AgentOps.reboot, AgentOps.pause, AgentOps.unpause, AgentOps.suspend, AgentOps.resume, AgentOps.consoleLog, AgentOps.snapshot];
    const memory = [AgentOps.balloonInfo, AgentOps.balloonSet];
    server.handle(on(AgentOps.rebuild.op), AgentOps.rebuild, (req, ctx) => this.rebuild(req, ctx));
    server.handle(on(AgentOps.resize.op), AgentOps.resize, (req, ctx) => this.resize(req, ctx));
    server.handle(on(AgentOps.confirmResize.op), AgentOps.confirmResize, (req, ctx) => this.confirmResize(req, ctx));
    server.handle(on(AgentOps.revertResize.op), AgentOps.revertResize, (req, ctx) => this.revertResize(req, ctx));
    const reshape = [AgentOps.rebuild, AgentOps.resize, AgentOps.confirmResize, AgentOps.revertResize];
    server.handle(on(AgentInterfaceOps.attach.op), AgentInterfaceOps.attach, (req, ctx) => this.attachInterface(req, ctx));
    server.handle(on(AgentInterfaceOps.detach.op), AgentInterfaceOps.detach, (req, ctx) => this.detachInterface(req, ctx));
    const interfaces = [AgentInterfaceOps.attach, AgentInterfaceOps.detach];
    const served = [...ops, ...more, ...memory, ...reshape, ...interfaces].map((c) => on(c.op));
    const migration = new LiveMigrationHandlers(this.driver, (...args) => this.serialized(...args), (req, op, ctx) => this.assertFresh(req, op, ctx));
    const cold = new ColdMigrationHandlers(this.driver, (...args) => this.serialized(...args), (req, op, ctx) => this.assertFresh(req, op, ctx));
    return [...served, ...migration.register(server, on), ...cold.register(server, on)];
  }

  async spawn(request: SpawnRequest, ctx: HandlerContext): Promise<InstanceStatus> {
    this.assertFresh(request, 'spawn', ctx);
    const spec = validateInstanceSpec(request.spec);
    return this.serialized('spawn', spec.serverId, request, ctx, () => this.driver.spawn(spec));
  }

  async destroy(request: DestroyRequest, ctx: HandlerContext): Promise<DestroyReply> {
    this.assertFresh(request, 'destroy', ctx);
    const serverId = assertServerId(request.serverId);
    const options = { deleteSharedDisks: request.deleteSharedDisks === true };
    const destroyed = await this.serialized('destroy', serverId, request, ctx, () => this.driver.destroy(serverId, options));
    return { serverId, destroyed };
  }

  async stop(request: StopRequest, ctx: HandlerContext): Promise<InstanceStatus> {
    this.assertFresh(request, 'stop', ctx);
    const serverId = assertServerId(request.serverId);
    const options = validateStopOptions(request);
    return this.serialized('stop', serverId, request, ctx, () => this.driver.stop(serverId, options));
  }

  async start(request: StartRequest, ctx: HandlerContext): Promise<InstanceStatus> {
    this.assertFresh(request, 'start', ctx);
    const spec = this.specOf(request);
    return this.serialized('start', spec.serverId, request, ctx, () => this.driver.start(spec));
  }

  async reboot(request: RebootRequest, ctx: HandlerContext): Promise<InstanceStatus> {
    this.assertFresh(request, 'reboot', ctx);
    const serverId = assertServerId(request.serverId);
    const options = validateRebootOptions(request);
    return this.serialized('reboot', serverId, request, ctx, () => this.driver.reboot(serverId, options));
  }

  async pause(request: ServerRef, ctx: HandlerContext): Promise<InstanceStatus> {
    return this.simple('pause', request, ctx, (id) => this.driver.pause(id));
  }

  async unpause(request: ServerRef, ctx: HandlerContext): Promise<InstanceStatus> {
    return this.simple('unpause', request, ctx, (id) => this.driver.unpause(id));
  }

  async suspend(request: ServerRef, ctx: HandlerContext): Promise<InstanceStatus> {
    return this.simple('suspend', request, ctx, (id) => this.driver.suspend(id));
  }

  async resume(request: StartRequest, ctx: HandlerContext): Promise<InstanceStatus> {
    this.assertFresh(request, 'resume', ctx);
    const spec = this.specOf(request);
    return this.serialized('resume', spec.serverId, request, ctx, () => this.driver.resume(spec));
  }

  /**
   * Serialized with the server's other operations: the copy must not race a stop, start or
   * destroy. The guest keeps running meanwhile.
   */
  async snapshot(request: SnapshotRequest, ctx: HandlerContext): Promise<SnapshotReply> {
    this.assertFresh(request, 'snapshot', ctx);
    const serverId = assertServerId(request.serverId);
    const imageId = assertImageId(request.imageId);
    const upload = validateSnapshotUpload(request.upload);
    const result = await this.serialized('snapshot', serverId, request, ctx, () => this.driver.snapshot(serverId, { imageId, upload }));
    return { serverId, imageId, ...result };
  }

  /** A read, like status: it answers while a long operation on the server runs. */
  async consoleLog(request: ConsoleLogRequest, ctx: HandlerContext): Promise<ConsoleLogReply> {
    this.assertFresh(request, 'consoleLog', ctx);
    const serverId = assertServerId(request.serverId);
    return { output: await this.driver.consoleLog(serverId, validateConsoleLogOptions(request)) };
  }

  /** A read, like status. */
  async balloonInfo(request: ServerRef, ctx: HandlerContext): Promise<BalloonReply> {
    this.assertFresh(request, 'balloonInfo', ctx);
    const serverId = assertServerId(request.serverId);
    return { serverId, ...(await this.driver.balloonInfo(serverId)) };
  }

  /**
   * Not serialized: one QMP command that changes no power state must not wait behind a long
   * snapshot; a process that ends meanwhile answers 409.
   */
  /** Serialized like every mutation; the job's operation id lets a replay skip a disk already made. */
  async rebuild(request: RebuildRequest, ctx: HandlerContext): Promise<InstanceStatus> {
    this.assertFresh(request, 'rebuild', ctx);
    const spec = this.specOf(request);
    const options = validateRebuildOptions({ ...request, rebuildId: request.opId });
    return this.serialized('rebuild', spec.serverId, request, ctx, () => this.driver.rebuild(spec, options));
  }

  async resize(request: ResizeRequest, ctx: HandlerContext): Promise<InstanceStatus> {
    this.assertFresh(request, 'resize', ctx);
    const spec = this.specOf(request);
    const options = validateResizeOptions(request);
    return this.serialized('resize', spec.serverId, request, ctx, () => this.driver.resize(spec, options));
  }

  async confirmResize(request: ServerRef, ctx: HandlerContext): Promise<InstanceStatus> {
    return this.simple('confirmResize', request, ctx, (id) => this.driver.confirmResize(id));
  }

  async revertResize(request: RevertResizeRequest, ctx: HandlerContext): Promise<InstanceStatus> {
    const options = validateResizeOptions(request);
    return this.simple('revertResize', request, ctx, (id) => this.driver.revertResize(id, options));
  }

  /** Serialized like every mutation: a hot-plug must not race a stop or a start of the server. */
  async attachInterface(request: InterfaceAttachRequest, ctx: HandlerContext): Promise<InterfaceReply> {
    this.assertFresh(request, 'interfaceAttach', ctx);
    const serverId = assertServerId(request.serverId);
    const nic = validateInterfaceNic(request.nic);
    const attach = this.driver.attachInterface?.bind(this.driver);
    if (!attach) throw new UnsupportedError(`the ${this.driver.name} driver cannot attach interfaces`);
    return { serverId, ...(await this.serialized('interfaceAttach', serverId, request, ctx, () => attach(serverId, nic))) };
  }

  async detachInterface(request: InterfaceDetachRequest, ctx: HandlerContext): Promise<InterfaceReply> {
    this.assertFresh(request, 'interfaceDetach', ctx);
    const serverId = assertServerId(request.serverId);
    const nic = validateInterfaceNic(request.nic);
    const timeoutMs = detachTimeoutMs(request.timeoutSeconds);
    const detach = this.driver.detachInterface?.bind(this.driver);
    if (!detach) throw new UnsupportedError(`the ${this.driver.name} driver cannot detach interfaces`);
    return { serverId, ...(await this.serialized('interfaceDetach', serverId, request, ctx, () => detach(serverId, nic, { timeoutMs }))) };
  }

  async balloonSet(request: BalloonSetRequest, ctx: HandlerContext): Promise<BalloonReply> {
    this.assertFresh(request, 'balloonSet', ctx);
    const serverId = assertServerId(request.serverId);
    this.logger.log(`balloonSet serverId=${serverId} targetBytes=${request.targetBytes} requestId=${ctx.requestId}`);
    return { serverId, ...(await this.driver.balloonSet(serverId, { targetBytes: request.targetBytes })) };
  }

  /** Reads are not serialized: a status must answer while a long spawn of the server runs. */
  async status(request: ServerRef, ctx: HandlerContext): Promise<InstanceStatus> {
    this.assertFresh(request, 'status', ctx);
    return this.driver.status(assertServerId(request.serverId));
  }

  async list(request: AgentCommand, ctx: HandlerContext): Promise<{ instances: InstanceStatus[] }> {
    this.assertFresh(request, 'list', ctx);
    return { instances: await this.driver.list() };
  }

  private simple(op: string, request: ServerRef, ctx: HandlerContext, task: (serverId: string) => Promise<InstanceStatus>): Promise<InstanceStatus> {
    this.assertFresh(request, op, ctx);
    const serverId = assertServerId(request.serverId);
    return this.serialized(op, serverId, request, ctx, () => task(serverId));
  }

  /** The spec of a start or resume; its server must be the one the request names. */
  private specOf(request: StartRequest): InstanceSpec {
    const spec = validateInstanceSpec(request.spec);
    if (request.serverId !== undefined && request.serverId !== spec.serverId) {
      throw new ValidationError('serverId must match spec.serverId', 'serverId');
    }
    return spec;
  }

  private serialized<T>(op: string, serverId: string, request: AgentCommand, ctx: HandlerContext, task: () => Promise<T>): Promise<T> {
    return this.locks.run(serverId, async () => {
      // The command may have waited behind a long operation on the same server.
      this.assertFresh(request, op, ctx);
      await this.guard?.assertMayBoot(request, op, serverId, async () => (await this.driver.status(serverId)).powerState !== PowerState.NoState);
      const ids = `serverId=${serverId} opId=${request.opId} requestId=${ctx.requestId}`;
      this.logger.log(`${op} ${ids}`);
      try {
        return await task();
      } catch (error) {
        // The caller gets the error; this line is the host's own record of it.
        this.logger.warn(`${op} failed ${ids}: ${(error as Error).message}`);
        throw error;
      }
    });
  }

  /** Where every command is checked: the host's lease and the command's epoch first, then its deadline. */
  private assertFresh(request: AgentCommand | undefined, op: string, ctx: HandlerContext): void {
    this.guard?.assertAllowed(request, op);
    assertFresh(request, op, ctx, this.now(), this.logger);
  }
}
