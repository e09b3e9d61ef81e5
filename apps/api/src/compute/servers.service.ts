/**
 * Servers, API side: validate, persist, enqueue. The workflow (placement, spawn) runs in the
 * scheduler; this side only writes the request and a compare-and-set on task_state.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  ConflictError,
  ImageOps,
  NotFoundError,
  PowerState,
  RequestedNetwork,
  TaskState,
  TimeoutError,
  ValidationError,
  VmState,
  jobId,
  subjects,
} from '@nubo/contracts';
import { ServerEntity, recordAction } from '@nubo/database';
import { JobQueue } from '@nubo/jobs';
import { RpcClient } from '@nubo/messaging';
import { randomUUID } from 'node:crypto';
import { DataSource, IsNull } from 'typeorm';
import { requestedZone, resolveServerZone } from './availability-zones/zones';
import { FlavorsService } from './flavors/flavors.service';
import { KeypairsService } from './keypairs/keypairs.service';
import { QuotaService } from './quotas/quota.service';
import { GroupsService } from './server-groups/groups.service';
import { parseServerListQuery } from './server-list-query';
import { atLeast } from './microversion';
import { parseServerDescription } from './server-tags';
import { parseRequestedNetworks } from './servers/requested-networks';
import { checkRequestedNetworks } from './servers/requested-networks.check';
import { parseServerSecurityGroups } from './security-groups/nova-security-groups';
import { resolveSecurityGroups, withSecurityGroups } from './security-groups/requested-security-groups';
import { NovaAddresses, serverAddresses } from './servers/server-addresses';
import { AuthContext } from '../common/auth-context';
import {
  isUuid,
  onlyKeys,
  optionalInt,
  optionalString,
  optionalStringMap,
  requireObject,
  requireString,
  requireStringOrInt,
} from '../common/validation';

const CREATE_KEYS = ['name', 'flavorRef', 'imageRef', 'metadata', 'networks', 'min_count', 'max_count',
  'OS-DCF:diskConfig', 'availability_zone', 'security_groups', 'key_name', 'adminPass', 'accessIPv4', 'accessIPv6'];

export interface CreateServerRequest {
  name: string;
  flavorRef: string;
  imageRef?: string;
  keyName?: string;
  metadata: Record<string, string>;
  /** os:scheduler_hints.group: the server group to join. */
  groupId?: string;
  /** Nova's "zone", "zone:host", "zone::node" (see availability-zones/zones.ts). */
  availabilityZone?: string;
  /** Nova's `networks` as a list; absent for none ("auto", "none", [], absent). */
  networks?: RequestedNetwork[];
  /** Nova's `security_groups` (names or ids); absent: the project's default group. */
  securityGroups?: string[];
  /** Microversion 2.19; null clears. */
  description?: string | null;
}

@Injectable()
export class ServersService {
  private readonly logger = new Logger(ServersService.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(JobQueue) private readonly jobs: JobQueue,
    @Inject(RpcClient) private readonly rpc: RpcClient,
    @Inject(FlavorsService) private readonly flavors: FlavorsService,
    @Inject(QuotaService) private readonly quotas: QuotaService,
    @Inject(GroupsService) private readonly groups: GroupsService,
    @Inject(KeypairsService) private readonly keypairs: KeypairsService,
  ) {}

  parseCreate(body: unknown, version = '2.1'): CreateServerRequest {
    const top = requireObject(body, 'body');
    const server = requireObject(top.server, 'server');
    onlyKeys(top, 'body', ['server', 'os:scheduler_hints', 'OS-SCH-HNT:scheduler_hints']);
    const hints = top['os:scheduler_hints'] ?? top['OS-SCH-HNT:scheduler_hints'];
    let groupId: string | undefined;
    if (hints !== undefined) {
      const h = requireObject(hints, 'os:scheduler_hints');
      groupId = optionalString(h, 'group', { max: 36 });
      if (groupId !== undefined && !isUuid(groupId)) {
        throw new ValidationError(`Invalid input for field/attribute group. Value: ${groupId}. It is not a UUID`, 'group');
      }
    }
    const keyName = optionalString(server, 'key_name', { min: 1, max: 255 });
    onlyKeys(server, 'server', atLeast(version, '2.19') ? [...CREATE_KEYS, 'description'] : CREATE_KEYS);
    const description = parseServerDescription(server);
    const name = requireString(server, 'name', { min: 1, max: 255 });
    const flavorRef = requireStringOrInt(server, 'flavorRef');
    const imageRef = optionalString(server, 'imageRef', { max: 255 });
    const metadata = optionalStringMap(server, 'metadata', { maxKey: 255, maxValue: 255 }) ?? {};
    const minCount = optionalInt(server, 'min_count', { min: 1 }) ?? 1;
    const maxCount = optionalInt(server, 'max_count', { min: 1 }) ?? minCount;
    if (minCount !== 1 || maxCount !== 1) {
      throw new ValidationError('Invalid input for field/attribute max_count. Nubo creates one server per request.', 'max_count');
    }
    const networks = parseRequestedNetworks(server.networks);
    const securityGroups = parseServerSecurityGroups(server.security_groups);
    if (imageRef !== undefined && !isUuid(imageRef.split('/').pop()!)) {
      throw new ValidationError(`Invalid imageRef provided.`, 'imageRef');
    }
    return { name, flavorRef, imageRef: imageRef?.split('/').pop(), keyName, metadata, groupId, availabilityZone: requestedZone(server), ...(networks.length ? { networks } : {}), ...(securityGroups ? { securityGroups } : {}), ...(description !== undefined ? { description } : {}) };
  }

  async create(request: CreateServerRequest, auth: AuthContext, requestId: string): Promise<ServerEntity> {
    // Nova answers an unknown (or invisible) flavor, key or image on create with 400, naming it.
    const flavor = await this.flavors.get(request.flavorRef, auth).catch((error: unknown) => {
      throw error instanceof NotFoundError ? new ValidationError(`Flavor ${request.flavorRef} could not be found.`, 'flavorRef') : error;
    });
    const zone = await resolveServerZone(this.db, request.availabilityZone, auth);
    if (request.keyName) {
      await this.keypairs.get(auth.userId, request.keyName).catch((error: unknown) => {
        throw error instanceof NotFoundError ? new ValidationError('Invalid key_name provided.', 'key_name') : error;
      });
    }
    if (request.imageRef) await this.checkImage(request.imageRef, auth, requestId);
    const asked = request.networks ?? [];
    if (asked.length) await checkRequestedNetworks(this.rpc, asked, { projectId: auth.projectId, isAdmin: auth.isAdmin }, requestId);
    // Unknown groups are refused (400) whether or not a port will carry them, as in Nova.
    const groupIds = request.securityGroups?.length ? await resolveSecurityGroups(this.rpc, request.securityGroups, auth.projectId, requestId) : undefined;
    const networks = withSecurityGroups(asked, groupIds);

    const server = this.db.getRepository(ServerEntity).create({
      id: randomUUID(),
      projectId: auth.projectId,
      userId: auth.userId,
      name: request.name,
      flavorId: flavor.id,
      // Embedded whole, as Nova does: later moves use the flavor as it was (its storage above all).
      flavor: { vcpus: flavor.vcpus, ramMb: flavor.ramMb, diskGb: flavor.diskGb, name: flavor.name, ephemeralGb: flavor.ephemeralGb, extraSpecs: flavor.extraSpecs ?? {} },
      imageRef: request.imageRef ?? null,
      vmState: VmState.Building,
      taskState: TaskState.Scheduling,
      powerState: PowerState.NoState,
      hostId: null,
      fault: null,
      metadata: request.metadata,
      keyName: request.keyName ?? null,
      description: request.description ?? null,
      tags: [],
      ...zone,
      requestId,
      launchedAt: null,
      deletedAt: null,
    });
    // Quota, row, group membership and action in one transaction: parallel creates of a project
    // queue on the quota lock, and a group of another project (404) leaves nothing behind.
    await this.db.transaction(async (tx) => {
      await this.quotas.checkServerCreate(tx, auth.projectId, { instances: 1, cores: flavor.vcpus, ramMb: flavor.ramMb });
      await tx.getRepository(ServerEntity).insert(server);
      if (networks.length) await tx.query(`UPDATE compute.servers SET requested_networks = $2 WHERE id = $1`, [server.id, JSON.stringify(networks)]);
      if (request.groupId) await this.groups.addMember(tx, request.groupId, server.id, auth.projectId);
      await recordAction(tx, { serverId: server.id, projectId: auth.projectId, userId: auth.userId, action: 'create', requestId });
    });
    try {
      await this.jobs.enqueue('server.create', { serverId: server.id, requestId }, { jobId: jobId('server.create', server.id) });
    } catch (error) {
      // Not queued means not accepted: take the row back so nothing is half-created.
      await this.db.transaction(async (tx) => {
        await tx.query(`DELETE FROM compute.server_group_members WHERE server_id = $1`, [server.id]);
        await tx.query(`DELETE FROM compute.instance_actions WHERE server_id = $1`, [server.id]);
        await tx.query(`DELETE FROM compute.servers WHERE id = $1`, [server.id]);
      });
      this.logger.error(`could not enqueue server.create for ${server.id}: ${(error as Error).message}`);
      throw new TimeoutError('The job queue is unavailable; nothing was created. Try again.');
    }
    return (await this.db.getRepository(ServerEntity).findOneBy({ id: server.id }))!;
  }

  /** Nova's `addresses` of each server, in one call to the network service; {} when it does not answer. */
  addresses(servers: ReadonlyArray<ServerEntity>, requestId: string): Promise<Map<string, NovaAddresses>> {
    return serverAddresses(this.db, this.rpc, servers.map((s) => s.id), requestId);
  }

  /** One page of servers, newest first; `next` is the marker of the following page, if any. */
  async list(query: Record<string, unknown>, auth: AuthContext, version = '2.1'): Promise<{ servers: ServerEntity[]; next?: string }> {
    const q = parseServerListQuery(query, auth, version);
    const qb = this.db.getRepository(ServerEntity).createQueryBuilder('s');
    const named: Record<string, unknown> = {};
    // parseServerListQuery binds positionally ($n); TypeORM's builder wants names.
    const where = q.where.map((w) => w.replace(/\$(\d+)/g, (_m, n) => {
      named[`p${n}`] = q.params[Number(n) - 1];
      return `:p${n}`;
    }));
    qb.where(where.join(' AND '), named);
    if (q.marker) {
      const marker = await this.db.getRepository(ServerEntity).findOneBy({ id: q.marker });
      if (!marker || (marker.projectId !== auth.projectId && !auth.isAdmin)) {
        throw new ValidationError(`marker [${q.marker}] not found`, 'marker');
      }
      qb.andWhere('(s.created_at, s.id) < (:mCreated, :mId)', { mCreated: marker.createdAt, mId: marker.id });
    }
    try {
      const rows = await qb.orderBy('s.created_at', 'DESC').addOrderBy('s.id', 'DESC').limit(q.limit + 1).getMany();
      const more = rows.length > q.limit;
      const servers = more ? rows.slice(0, q.limit) : rows;
      return { servers, next: more ? servers[servers.length - 1].id : undefined };
    } catch (error) {
      if (/invalid regular expression/i.test((error as Error).message)) {
        throw new ValidationError(`Invalid filter name: not a valid regular expression`, 'name');
      }
      throw error;
    }
  }

  async rename(id: string, body: unknown, auth: AuthContext, version = '2.1'): Promise<ServerEntity> {
    const server = await this.get(id, auth);
    const fields = requireObject(requireObject(body, 'body').server, 'server');
    onlyKeys(fields, 'server', ['name', 'accessIPv4', 'accessIPv6', 'OS-DCF:diskConfig', ...(atLeast(version, '2.19') ? ['description'] : [])]);
    const name = optionalString(fields, 'name', { min: 1, max: 255 });
    const description = parseServerDescription(fields);
    if (name !== undefined) {
      await this.db.query(`UPDATE compute.servers SET name = $2, updated_at = now() WHERE id = $1`, [server.id, name]);
    }
    if (description !== undefined) {
      await this.db.query(`UPDATE compute.servers SET description = $2, updated_at = now() WHERE id = $1`, [server.id, description]);
    }
    return this.get(id, auth);
  }

  /** Another project's server is NotFound, exactly like a server that never existed. */
  async get(id: string, auth: AuthContext): Promise<ServerEntity> {
    const server = isUuid(id) ? await this.db.getRepository(ServerEntity).findOneBy({ id, deletedAt: IsNull() }) : null;
    if (!server || (server.projectId !== auth.projectId && !auth.isAdmin)) {
      throw new NotFoundError(`Instance ${id} could not be found.`);
    }
    return server;
  }

  /** Delete wins over any operation in flight; repeating it is harmless. */
  async delete(id: string, auth: AuthContext, requestId: string): Promise<void> {
    const server = await this.get(id, auth);
    await this.db.transaction(async (tx) => {
      await tx.query(`UPDATE compute.servers SET task_state = $2, updated_at = now() WHERE id = $1 AND deleted_at IS NULL`, [
        server.id,
        TaskState.Deleting,
      ]);
      await recordAction(tx, { serverId: server.id, projectId: server.projectId, userId: auth.userId, action: 'delete', requestId });
    });
    await this.jobs.enqueue('server.delete', { serverId: server.id, requestId }, { jobId: jobId('server.delete', server.id) });
  }

  private async checkImage(imageId: string, auth: AuthContext, requestId: string): Promise<void> {
    try {
      const image = await this.rpc.call(subjects.service('image', ImageOps.get.op), ImageOps.get, { imageId, projectId: auth.projectId }, { requestId });
      if (image.status !== 'active') throw new ConflictError(`Image ${imageId} is not active.`);
    } catch (error) {
      if (error instanceof NotFoundError) throw new ValidationError(`Image ${imageId} could not be found.`, 'imageRef');
      throw error;
    }
  }
}
