/**
 * Nova's os-interface. Attach is synchronous, as in Nova (200 with the attachment once the port
 * is plugged): a compare-and-set on the task state (one operation per server at a time), an
 * instance action `attach_interface`, a `server.interface` job, and the answer when the job has
 * ended, read from the port (bound to the server: attached). A net_id attach makes the port here,
 * as the server's project (Neutron's IPAM, quotas and default group apply); the job deletes it if
 * the attach fails. Detach is asynchronous (202), like Nova's.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  ConflictError,
  INTERFACE_VM_STATES,
  InterfaceTaskState,
  InternalError,
  NeutronCaller,
  NeutronOps,
  NeutronResource,
  NotFoundError,
  RpcContract,
  TimeoutError,
  jobId,
  subjects,
} from '@nubo/contracts';
import { ServerEntity, recordAction } from '@nubo/database';
import { JobQueue } from '@nubo/jobs';
import { RpcClient } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { AuthContext } from '../../common/auth-context';
import { isUuid } from '../../common/validation';
import { ServersService } from '../servers.service';
import { InterfaceAttachBody } from './interface-attach.body';
import { InterfaceAttachmentView, interfaceAttachmentView } from './interface-attachment.view';

/** How long an attach request waits for its job (Nova's RPC call waits about as long). */
export const ATTACH_WAIT_MS = 180_000;
const POLL_MS = 200;

@Injectable()
export class ServerInterfacesService {
  private readonly logger = new Logger(ServerInterfacesService.name);
  waitMs = ATTACH_WAIT_MS;

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(JobQueue) private readonly jobs: JobQueue,
    @Inject(RpcClient) private readonly rpc: RpcClient,
    @Inject(ServersService) private readonly servers: ServersService,
  ) {}

  async list(serverId: string, auth: AuthContext, requestId: string): Promise<InterfaceAttachmentView[]> {
    const server = await this.servers.get(serverId, auth);
    return (await this.portsOf(server, requestId)).map(interfaceAttachmentView);
  }

  async show(serverId: string, portId: string, auth: AuthContext, requestId: string): Promise<InterfaceAttachmentView> {
    const server = await this.servers.get(serverId, auth);
    return interfaceAttachmentView(await this.attachedPort(server, portId, requestId));
  }

  async attach(serverId: string, body: InterfaceAttachBody, auth: AuthContext, requestId: string): Promise<InterfaceAttachmentView> {
    const server = await this.servers.get(serverId, auth);
    this.assertState(server, 'attach_interface');
    const owner: NeutronCaller = { projectId: server.projectId, isAdmin: false };
    let portId: string;
    let created = false;
    if ('portId' in body) {
      const port = await this.neutron(NeutronOps.ports.show, { caller: owner, id: body.portId, query: {} }, requestId, () => portNotFound(body.portId));
      if (port.item.device_id) throw new ConflictError(`Port ${body.portId} is still in use.`);
      portId = body.portId;
    } else {
      await this.neutron(NeutronOps.networks.show, { caller: owner, id: body.networkId, query: {} }, requestId, () => new NotFoundError(`Network ${body.networkId} could not be found.`));
      const port = { network_id: body.networkId, ...(body.fixedIp ? { fixed_ips: [{ ip_address: body.fixedIp }] } : {}) };
      portId = String((await this.neutron(NeutronOps.ports.create, { caller: owner, body: { port } }, requestId)).item.id);
      created = true;
    }
    const job = await this.start(server, auth, requestId, 'attach', portId, created).catch(async (error: unknown) => {
      if (created) await this.dropPort(portId, owner, requestId);
      throw error;
    });
    await this.waitFor(job);
    const port = await this.portById(server, portId, requestId);
    if (port?.device_id === server.id) return interfaceAttachmentView(port);
    const [event]: Array<{ details: string | null }> = await this.db.query(
      `SELECT e.details FROM compute.instance_action_events e JOIN compute.instance_actions a ON a.id = e.action_id
        WHERE a.server_id = $1 AND a.request_id = $2 ORDER BY e.id DESC LIMIT 1`,
      [server.id, requestId],
    );
    throw new InternalError(`Failed to attach network adapter device to ${server.id}${event?.details ? `: ${event.details}` : ''}`);
  }

  async detach(serverId: string, portId: string, auth: AuthContext, requestId: string): Promise<void> {
    const server = await this.servers.get(serverId, auth);
    await this.attachedPort(server, portId, requestId);
    this.assertState(server, 'detach_interface');
    await this.start(server, auth, requestId, 'detach', portId, false);
  }

  private assertState(server: ServerEntity, action: string): void {
    if (server.taskState) throw new ConflictError(`Cannot '${action}' instance ${server.id} while it is in task_state ${server.taskState}`);
    if (!INTERFACE_VM_STATES.includes(server.vmState)) throw new ConflictError(`Cannot '${action}' instance ${server.id} while it is in vm_state ${server.vmState}`);
  }

  /** Takes the server's task state, records the action and enqueues the job; returns its id. */
  private async start(server: ServerEntity, auth: AuthContext, requestId: string, op: 'attach' | 'detach', portId: string, created: boolean): Promise<string> {
    const task = op === 'attach' ? InterfaceTaskState.Attaching : InterfaceTaskState.Detaching;
    const action = op === 'attach' ? 'attach_interface' : 'detach_interface';
    const claimed = await this.db.transaction(async (tx) => {
      const result = await tx.query(
        `UPDATE compute.servers SET task_state = $2, updated_at = now() WHERE id = $1 AND deleted_at IS NULL AND task_state IS NULL AND vm_state = ANY($3)`,
        [server.id, task, INTERFACE_VM_STATES],
      );
      if (result[1] !== 1) return false;
      await recordAction(tx, { serverId: server.id, projectId: server.projectId, userId: auth.userId, action, requestId });
      return true;
    });
    if (!claimed) throw new ConflictError(`Cannot '${action}' instance ${server.id} while another operation is in progress`);
    const id = jobId('server.interface', server.id, requestId);
    try {
      await this.jobs.enqueue('server.interface', { serverId: server.id, requestId, op, portId, created }, { jobId: id });
    } catch (error) {
      await this.db.query(`UPDATE compute.servers SET task_state = NULL WHERE id = $1 AND task_state = $2`, [server.id, task]);
      this.logger.error(`could not enqueue ${op} of port ${portId} on ${server.id}: ${(error as Error).message}`);
      throw new TimeoutError('The job queue is unavailable; the interface operation was not started. Try again.');
    }
    return id;
  }

  private async waitFor(id: string): Promise<void> {
    const deadline = Date.now() + this.waitMs;
    for (;;) {
      const job = await this.jobs.inspect(id);
      if (!job || job.state === 'completed' || job.state === 'failed') return;
      if (Date.now() > deadline) throw new TimeoutError(`The interface attach is still running after ${this.waitMs / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** The server's ports (device_id = the server), in Neutron's JSON. */
  private async portsOf(server: ServerEntity, requestId: string): Promise<NeutronResource[]> {
    const caller: NeutronCaller = { projectId: server.projectId, isAdmin: true };
    return (await this.neutron(NeutronOps.ports.list, { caller, query: { device_id: server.id } }, requestId)).items;
  }

  private async portById(server: ServerEntity, portId: string, requestId: string): Promise<NeutronResource | undefined> {
    if (!isUuid(portId)) return undefined;
    const caller: NeutronCaller = { projectId: server.projectId, isAdmin: true };
    return this.neutron(NeutronOps.ports.show, { caller, id: portId, query: {} }, requestId).then(
      (r) => r.item,
      (error: unknown) => {
        if (error instanceof NotFoundError) return undefined;
        throw error;
      },
    );
  }

  /** The port, if it is attached to the server; Nova's 404 otherwise. */
  private async attachedPort(server: ServerEntity, portId: string, requestId: string): Promise<NeutronResource> {
    const port = await this.portById(server, portId, requestId);
    if (!port || port.device_id !== server.id) throw portNotFound(portId);
    return port;
  }

  private async dropPort(portId: string, caller: NeutronCaller, requestId: string): Promise<void> {
    await this.neutron(NeutronOps.ports.delete, { caller, id: portId }, requestId).catch((error: Error) =>
      this.logger.warn(`could not delete port ${portId} made for a failed attach: ${error.message}`),
    );
  }

  /** A Neutron call; `notFound` replaces Neutron's 404 with Nova's wording. */
  private async neutron<Req, Res>(op: RpcContract<Req, Res>, body: Req, requestId: string, notFound?: () => Error): Promise<Res> {
    try {
      return await this.rpc.call(subjects.service('network', op.op), op, body, { requestId });
    } catch (error) {
      if (notFound && error instanceof NotFoundError) throw notFound();
      throw error;
    }
  }
}

const portNotFound = (portId: string) => new NotFoundError(`Port id ${portId} could not be found.`);
