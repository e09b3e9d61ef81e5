/**
 * Host aggregates and availability zones through the stock `openstack` CLI (python3-openstackclient
 * 6.0.0, compute 2.1) with nothing but an openrc: create with a zone, list, show, properties,
 * hosts in and out, the zone list following the hosts, a server refused in an unknown zone, and a
 * member refused everything. Host traits over HTTP (Nubo's own API).
 */
import { OpenStackClient } from '@nubo/client';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { adminClient, demoClient } from '../support/cloud';
import { E2E, openrcPath } from '../support/e2e-env';
import { openrcEnv } from '../support/openrc';

const run = promisify(execFile);

describe('host aggregates and availability zones (openstack CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'osc-agg-'));
  const adminEnv = openrcEnv(openrcPath);
  const memberEnv = openrcEnv(join(E2E.NUBO_STATE_DIR, 'openrc-demo'));
  const suffix = Date.now().toString(36);
  const agg = `agg1-${suffix}`;
  const zone = `az1-${suffix}`;
  const image = `agg-img-${suffix}`;
  let admin: OpenStackClient;
  let host: string;

  const cli = (env: Record<string, string>, args: string[]) =>
    run('openstack', args, { env: { PATH: process.env.PATH!, HOME: dir, ...env }, timeout: 120_000 });
  /** `openstack ARGS -f json`, parsed. */
  const osc = async (env: Record<string, string>, ...args: string[]): Promise<any> => {
    const { stdout } = await cli(env, [...args, '-f', 'json']);
    return stdout.trim() ? JSON.parse(stdout) : undefined;
  };
  /** For commands that print nothing. */
  const oscQuiet = async (env: Record<string, string>, ...args: string[]) => void (await cli(env, args));
  /** The CLI's failure: its exit code and what it printed. */
  const oscFails = (env: Record<string, string>, ...args: string[]) =>
    cli(env, args).then(
      () => {
        throw new Error(`openstack ${args.join(' ')} succeeded`);
      },
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
  const zones = async () => (await osc(adminEnv, 'availability', 'zone', 'list', '--compute')) as Array<Record<string, string>>;

  beforeAll(async () => {
    admin = await adminClient();
    const { hypervisors } = await admin.call('GET', '/compute/v2.1/os-hypervisors/detail', 200);
    // A host with no server: Nova refuses to move servers to another zone.
    const idle = hypervisors.find((h: any) => h.running_vms === 0 && h.state === 'up') ?? hypervisors[0];
    host = idle.service.host;
  });

  afterAll(async () => {
    const { aggregates } = await admin.call('GET', '/compute/v2.1/os-aggregates', 200);
    for (const a of aggregates.filter((x: any) => x.name === agg)) {
      for (const h of a.hosts) await admin.request('POST', `/compute/v2.1/os-aggregates/${a.id}/action`, { body: { remove_host: { host: h } } });
      await admin.request('DELETE', `/compute/v2.1/os-aggregates/${a.id}`);
    }
    await cli(adminEnv, ['image', 'delete', image]).catch(() => undefined);
    await admin.request('PUT', `/nubo/v1/hosts/${host}/traits`, { body: { traits: [] } });
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates an aggregate in a zone, lists and shows it', async () => {
    const created = await osc(adminEnv, 'aggregate', 'create', '--zone', zone, agg);
    expect(created).toMatchObject({ name: agg, availability_zone: zone });
    const list = await osc(adminEnv, 'aggregate', 'list');
    expect(list).toContainEqual({ ID: created.id, Name: agg, 'Availability Zone': zone });
    const shown = await osc(adminEnv, 'aggregate', 'show', agg);
    expect(shown).toMatchObject({ id: created.id, name: agg, availability_zone: zone, hosts: [], properties: {} });
    // A second one with the same name: Nova's 409.
    const dup = await oscFails(adminEnv, 'aggregate', 'create', agg);
    expect(dup.stderr).toMatch(/409|already exists/);
  });

  it('sets and unsets a property', async () => {
    await oscQuiet(adminEnv, 'aggregate', 'set', '--property', 'ssd=true', '--property', 'rack=4', agg);
    expect((await osc(adminEnv, 'aggregate', 'show', agg)).properties).toEqual({ ssd: 'true', rack: '4' });
    await oscQuiet(adminEnv, 'aggregate', 'unset', '--property', 'rack', agg);
    expect((await osc(adminEnv, 'aggregate', 'show', agg)).properties).toEqual({ ssd: 'true' });
    const { aggregates } = await admin.call('GET', '/compute/v2.1/os-aggregates', 200);
    expect(aggregates.find((a: any) => a.name === agg).metadata).toEqual({ ssd: 'true', availability_zone: zone });
  });

  it('adds a host: its zone is listed, and its compute service is in it', async () => {
    expect((await zones()).map((z) => z['Zone Name'])).not.toContain(zone);
    const added = await osc(adminEnv, 'aggregate', 'add', 'host', agg, host);
    expect(added.hosts).toEqual([host]);
    expect(await zones()).toContainEqual({ 'Zone Name': zone, 'Zone Status': 'available' });
    const { services } = await admin.call('GET', `/compute/v2.1/os-services?host=${host}`, 200);
    expect(services[0].zone).toBe(zone);
    const again = await oscFails(adminEnv, 'aggregate', 'add', 'host', agg, host);
    expect(again.stderr).toMatch(/already has host/);
    const unknown = await oscFails(adminEnv, 'aggregate', 'add', 'host', agg, `nohost-${suffix}`);
    expect(unknown.stderr).toMatch(/could not be found/);
  });

  it('refuses a server in a zone that does not exist, and creates nothing', async () => {
    const file = join(dir, 'disk.raw');
    writeFileSync(file, Buffer.alloc(1024 * 1024));
    await osc(adminEnv, 'image', 'create', '--file', file, '--disk-format', 'raw', '--container-format', 'bare', image);
    const name = `agg-vm-${suffix}`;
    const refused = await oscFails(adminEnv, 'server', 'create', '--flavor', 'm1.nano', '--image', image, '--availability-zone', 'nope', name);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/The requested availability zone is not available \(HTTP 400\)/);
    expect((await osc(adminEnv, 'server', 'list', '--name', name)).length).toBe(0);
  });

  it('answers a member 403 on every aggregate call', async () => {
    const list = await oscFails(memberEnv, 'aggregate', 'list');
    expect(list.stderr).toMatch(/403/);
    expect(list.stderr).toMatch(/os_compute_api:os-aggregates:index/);
    const member = await demoClient();
    const create = await member.request('POST', '/compute/v2.1/os-aggregates', { body: { aggregate: { name: `m-${suffix}` } } });
    expect(create).toMatchObject({ status: 403, body: { forbidden: { code: 403 } } });
    const { aggregates } = await admin.call('GET', '/compute/v2.1/os-aggregates', 200);
    expect(aggregates.map((a: any) => a.name)).not.toContain(`m-${suffix}`);
  });

  it('sets host traits (admins, CUSTOM_* only)', async () => {
    const put = await admin.call('PUT', `/nubo/v1/hosts/${host}/traits`, 200, { traits: ['CUSTOM_E2E_GPU'] });
    expect(put.traits).toContainEqual({ name: 'CUSTOM_E2E_GPU', source: 'admin' });
    expect((await admin.call('GET', `/nubo/v1/hosts/${host}/traits`, 200)).traits).toContainEqual({ name: 'CUSTOM_E2E_GPU', source: 'admin' });
    const bad = await admin.request('PUT', `/nubo/v1/hosts/${host}/traits`, { body: { traits: ['HW_CPU_X86_AVX2'] } });
    expect(bad.status).toBe(400);
    expect(bad.body.badRequest.message).toMatch(/traits/);
    expect((await admin.request('GET', `/nubo/v1/hosts/nohost-${suffix}/traits`)).status).toBe(404);
    const member = await demoClient();
    expect((await member.request('PUT', `/nubo/v1/hosts/${host}/traits`, { body: { traits: [] } })).status).toBe(403);
  });

  it('removes the host and deletes the aggregate: the zone goes with it', async () => {
    const removed = await osc(adminEnv, 'aggregate', 'remove', 'host', agg, host);
    expect(removed.hosts).toEqual([]);
    expect((await zones()).map((z) => z['Zone Name'])).not.toContain(zone);
    await oscQuiet(adminEnv, 'aggregate', 'delete', agg);
    expect((await osc(adminEnv, 'aggregate', 'list')).map((a: { Name: string }) => a.Name)).not.toContain(agg);
    const gone = await oscFails(adminEnv, 'aggregate', 'show', agg);
    expect(gone.stderr).toMatch(/No Aggregate found|could not be found/i);
  });
});
