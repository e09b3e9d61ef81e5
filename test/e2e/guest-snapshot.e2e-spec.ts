/**
 * A real Linux guest (deploy/guest-image) through the whole cloud: uploaded as an image that asks
 * for TCG (hypervisor_type=qemu; a Linux guest does not run under the test machines' nested KVM),
 * booted, its serial console read through os-getConsoleOutput and `openstack console log show`,
 * snapshotted live with `openstack server image create --wait` and offline through the API, and the
 * snapshot (a standalone qcow2) booted again as a clone. Every server joins one affinity group, so
 * all boots land on one host, whose agent must have downloaded the base image once.
 * Needs root (the guest image build installs what it lacks with apt-get).
 */
import { OpenStackClient } from '@nubo/client';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { adminClient, cmdline, eventually, hostNumber, processAlive, qemuPid, qmpStatus } from '../support/cloud';
import { E2E, ROOT, openrcPath } from '../support/e2e-env';
import { openrcEnv } from '../support/openrc';

jest.setTimeout(900_000);

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const MARKER = 'NUBO-GUEST: booted';
const M1_TINY = '1';

/** PUT a file to the API as an image's data, streamed from disk with its length. */
async function uploadImageFile(api: OpenStackClient, imageId: string, file: string): Promise<void> {
  const url = new URL(`${api.baseUrl}/image/v2/images/${imageId}/file`);
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(url, {
      method: 'PUT',
      headers: { 'x-auth-token': api.token!, 'content-type': 'application/octet-stream', 'content-length': String(statSync(file).size) },
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    createReadStream(file).pipe(req);
  });
  if (status !== 204) throw new Error(`upload of image ${imageId} answered ${status}`);
}

/** GET an image's data from the API into a file. */
async function downloadImageFile(api: OpenStackClient, imageId: string, file: string): Promise<void> {
  const res = await fetch(`${api.baseUrl}/image/v2/images/${imageId}/file`, { headers: { 'x-auth-token': api.token! } });
  if (res.status !== 200 || !res.body) throw new Error(`download of image ${imageId} answered ${res.status}`);
  await pipeline(res.body as unknown as NodeJS.ReadableStream, createWriteStream(file));
}

type ImageCacheHealth = { images: number; downloads: number };

/** The image cache in the agent's /healthz of host N (port NUBO_HEALTH_PORT_BASE + 10 + N, see deploy/cloud.sh). */
async function imageCacheOf(n: number): Promise<ImageCacheHealth> {
  const port = Number(E2E.NUBO_HEALTH_PORT_BASE) + 10 + n;
  return ((await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { imageCache: ImageCacheHealth }).imageCache;
}

const cachedOn = (n: number, sha256: string) => existsSync(join(E2E.NUBO_STATE_DIR, 'hosts', `h${n}`, 'images', sha256));
const hostNumbers = () => Array.from({ length: Number(E2E.NUBO_HOSTS) }, (_, i) => i + 1);

const accelOf = (pid: number) => {
  const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  return args[args.indexOf('-accel') + 1];
};

(isRoot ? describe : describe.skip)('a Linux guest: console log, snapshots and clones (needs root)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nubo-guest-snap-'));
  const suffix = Date.now().toString(36);
  const project = `snap-${suffix}`;
  const password = `pw-${suffix}-Secret`;
  let admin: OpenStackClient;
  let api: OpenStackClient;
  let userEnv: Record<string, string>;
  let projectId: string;
  let userId: string;
  let groupId: string;
  let baseImageId: string;
  let baseSha256: string;
  const servers: string[] = [];
  const images: string[] = [];
  let host: string;
  let origin: string;
  let liveSnapshotId: string;

  /** Runs the stock CLI as the test's member user; `json` adds `-f json` and parses stdout. */
  async function osc(args: string[], o: { json?: boolean } = { json: true }): Promise<any> {
    const { stdout } = await run('openstack', o.json ? [...args, '-f', 'json'] : args, {
      env: { PATH: process.env.PATH!, HOME: dir, ...userEnv },
      timeout: 600_000,
      maxBuffer: 8 << 20,
    });
    return o.json ? JSON.parse(stdout) : stdout;
  }

  async function consoleOutput(serverId: string, length?: number): Promise<string> {
    const body = { 'os-getConsoleOutput': length === undefined ? {} : { length } };
    return (await api.call('POST', `/compute/v2.1/servers/${serverId}/action`, 200, body)).output;
  }

  async function bootFrom(imageRef: string, name: string): Promise<string> {
    const created = await api.call('POST', '/compute/v2.1/servers', 202, {
      server: { name, flavorRef: M1_TINY, imageRef },
      'os:scheduler_hints': { group: groupId },
    });
    servers.push(created.server.id);
    await api.waitForStatus(created.server.id, 'ACTIVE', 300_000);
    return created.server.id;
  }

  const hostOf = async (serverId: string): Promise<string> => (await admin.getServer(serverId))['OS-EXT-SRV-ATTR:host'];
  const waitForMarker = (serverId: string) =>
    eventually(`"${MARKER}" on the console of ${serverId}`, async () => (await consoleOutput(serverId)).includes(MARKER), 300_000);
  const waitForImage = (imageId: string) =>
    eventually(`image ${imageId} to be active`, async () => {
      const image = await api.call('GET', `/image/v2/images/${imageId}`, 200);
      if (image.status === 'killed' || image.status === 'deleted') throw new Error(`image ${imageId} is ${image.status}`);
      return image.status === 'active' && image;
    }, 300_000);

  beforeAll(async () => {
    admin = await adminClient();
    const p = (await admin.call('POST', '/identity/v3/projects', 201, { project: { name: project, domain_id: 'default' } })).project;
    projectId = p.id;
    const u = (await admin.call('POST', '/identity/v3/users', 201, { user: { name: project, password, domain_id: 'default', default_project_id: p.id } })).user;
    userId = u.id;
    const [member] = (await admin.call('GET', '/identity/v3/roles?name=member', 200)).roles;
    await admin.call('PUT', `/identity/v3/projects/${projectId}/users/${userId}/roles/${member.id}`, 204);
    api = await new OpenStackClient({ authUrl: `${admin.baseUrl}/identity/v3`, username: project, password, projectName: project }).login();
    userEnv = { ...openrcEnv(openrcPath), OS_USERNAME: project, OS_PASSWORD: password, OS_PROJECT_NAME: project };
    groupId = (await api.call('POST', '/compute/v2.1/os-server-groups', 200, { server_group: { name: `g-${suffix}`, policies: ['affinity'] } })).server_group.id;

    const { stdout } = await run('bash', [join(ROOT, 'deploy/guest-image/build.sh'), join(E2E.NUBO_STATE_DIR, 'guest-image')], {
      timeout: 600_000,
      maxBuffer: 1 << 20,
    });
    const guestImage = stdout.trim();
    baseSha256 = createHash('sha256').update(readFileSync(guestImage)).digest('hex');
    const image = await api.call('POST', '/image/v2/images', 201, {
      name: `guest-${suffix}`, disk_format: 'qcow2', container_format: 'bare', hypervisor_type: 'qemu',
    });
    baseImageId = image.id;
    images.push(baseImageId);
    await uploadImageFile(api, baseImageId, guestImage);
  });

  afterAll(async () => {
    for (const id of servers) await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
    for (const id of servers) await admin.waitForGone(id, 120_000).catch(() => undefined);
    for (const id of images) await admin.request('DELETE', `/image/v2/images/${id}`);
    if (groupId) await admin.request('DELETE', `/compute/v2.1/os-server-groups/${groupId}`);
    if (userId) await admin.request('DELETE', `/identity/v3/users/${userId}`);
    if (projectId) await admin.request('DELETE', `/identity/v3/projects/${projectId}`);
    rmSync(dir, { recursive: true, force: true });
  });

  it('boots the guest under TCG, as its image asks, and shows its console through the API and the CLI', async () => {
    const image = await api.call('GET', `/image/v2/images/${baseImageId}`, 200);
    expect(image).toMatchObject({ status: 'active', hypervisor_type: 'qemu', os_hash_value: baseSha256 });
    // Which host will take it is placement's choice: note every host's cache first.
    const before = new Map<number, { cached: boolean; cache: ImageCacheHealth }>();
    for (const n of hostNumbers()) before.set(n, { cached: cachedOn(n, baseSha256), cache: await imageCacheOf(n) });

    origin = await bootFrom(baseImageId, `origin-${suffix}`);
    host = await hostOf(origin);
    const was = before.get(hostNumber(host))!;
    expect((await imageCacheOf(hostNumber(host))).downloads).toBe(was.cache.downloads + (was.cached ? 0 : 1));
    expect(cachedOn(hostNumber(host), baseSha256)).toBe(true);
    expect(accelOf(qemuPid(host, origin)!)).toBe('tcg');
    await waitForMarker(origin);

    const tail = await consoleOutput(origin, 3);
    expect(tail.replace(/\n$/, '').split('\n').length).toBeLessThanOrEqual(3);
    expect(await consoleOutput(origin, 0)).toBe('');
    expect(await consoleOutput(origin)).not.toMatch(/[\u0000-\u0008\u000b-\u001f]/);

    expect(await osc(['console', 'log', 'show', origin], { json: false })).toContain(MARKER);
    const lines = await osc(['console', 'log', 'show', '--lines', '2', origin], { json: false });
    expect(lines.replace(/\n$/, '').split('\n').length).toBeLessThanOrEqual(2);
  });

  it('a second boot of the base image on the same host downloads nothing', async () => {
    const before = await imageCacheOf(hostNumber(host));
    const second = await bootFrom(baseImageId, `second-${suffix}`);
    expect(await hostOf(second)).toBe(host);
    expect(await imageCacheOf(hostNumber(host))).toEqual(before);
    await waitForMarker(second);
  });

  it('snapshots the running guest with `openstack server image create --wait`; the guest runs on', async () => {
    const pid = qemuPid(host, origin)!;
    const created = await osc(['server', 'image', 'create', '--name', `live-${suffix}`, '--wait', origin]);
    liveSnapshotId = created.id;
    images.push(liveSnapshotId);
    expect(created).toMatchObject({ name: `live-${suffix}`, status: 'active', disk_format: 'qcow2' });

    const image = await api.call('GET', `/image/v2/images/${liveSnapshotId}`, 200);
    expect(image).toMatchObject({
      status: 'active', disk_format: 'qcow2', container_format: 'bare', visibility: 'private', owner: projectId,
      image_type: 'snapshot', instance_uuid: origin, base_image_ref: baseImageId, user_id: userId,
      // Inherited from the base image: the clone boots under TCG too.
      hypervisor_type: 'qemu',
    });
    const server = await api.getServer(origin);
    expect(server).toMatchObject({ status: 'ACTIVE', 'OS-EXT-STS:task_state': null });
    expect(qemuPid(host, origin)).toBe(pid);
    expect(processAlive(pid)).toBe(true);
    expect(await qmpStatus(host, origin)).toBe('running');
    expect(cmdline(pid)).toContain(origin);
    const actions = (await api.call('GET', `/compute/v2.1/servers/${origin}/os-instance-actions`, 200)).instanceActions;
    expect(actions.map((a: { action: string }) => a.action)).toContain('createImage');
  });

  it('the snapshot is a standalone qcow2 (no backing file) when downloaded', async () => {
    const file = join(dir, 'live.qcow2');
    await downloadImageFile(api, liveSnapshotId, file);
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-f', 'qcow2', file], { encoding: 'utf8' }));
    expect(info.format).toBe('qcow2');
    expect(info['backing-filename']).toBeUndefined();
    expect(info['full-backing-filename']).toBeUndefined();
    expect(info['virtual-size']).toBeGreaterThanOrEqual(2 ** 30);
  });

  it('snapshots a stopped server through the API: 202, no body, the image in Location', async () => {
    await api.call('POST', `/compute/v2.1/servers/${origin}/action`, 202, { 'os-stop': null });
    await api.waitForStatus(origin, 'SHUTOFF', 120_000);
    const reply = await api.request('POST', `/compute/v2.1/servers/${origin}/action`, {
      body: { createImage: { name: `offline-${suffix}`, metadata: { purpose: 'e2e' } } },
    });
    expect(reply.status).toBe(202);
    expect(reply.body).toBeUndefined();
    const location = reply.headers.get('location')!;
    expect(location).toMatch(new RegExp(`^${api.baseUrl}/image/v2/images/[0-9a-f-]{36}$`));
    const imageId = location.split('/').pop()!;
    images.push(imageId);
    // A second snapshot while the first runs is refused (the copy and upload take far longer than this request).
    const busy = await api.request('POST', `/compute/v2.1/servers/${origin}/action`, { body: { createImage: { name: 'again' } } });
    expect(busy.status).toBe(409);
    expect(busy.body.conflictingRequest.message).toMatch(/task_state image_snapshot/);
    const image = await waitForImage(imageId);
    expect(image).toMatchObject({ disk_format: 'qcow2', purpose: 'e2e', image_type: 'snapshot' });
    await eventually('the task state to clear', async () => (await api.getServer(origin))['OS-EXT-STS:task_state'] === null);
    expect((await api.getServer(origin)).status).toBe('SHUTOFF');
  });

  it('boots a clone from the live snapshot, on the same host, and it says it booted', async () => {
    const before = await imageCacheOf(hostNumber(host));
    const clone = await bootFrom(liveSnapshotId, `clone-${suffix}`);
    expect(clone).not.toBe(origin);
    expect(await hostOf(clone)).toBe(host);
    expect(accelOf(qemuPid(host, clone)!)).toBe('tcg');
    await waitForMarker(clone);
    // The first guest left a file on its disk at boot (/mnt/boot/seen/<its uuid>); the clone finds
    // it on the disk it got from the snapshot, and says so.
    const output = await eventually('the clone to list what it found on its disk', async () => {
      const text = await consoleOutput(clone);
      return text.includes('NUBO-GUEST: ready') ? text : undefined;
    }, 120_000);
    expect(output).toContain(`NUBO-GUEST: seen ${origin}`);
    expect(output).not.toContain(`NUBO-GUEST: seen ${clone}`);
    // The snapshot is another image: one more download, no more.
    expect((await imageCacheOf(hostNumber(host))).downloads).toBe(before.downloads + 1);
  });
});
