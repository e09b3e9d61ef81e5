/**
 * The stock `openstack` CLI (Debian's python3-openstackclient), unmodified, with nothing but an
 * openrc file, drives Nubo; each result is checked against reality (QEMU process, QMP status).
 */
import { OpenStackClient } from '@nubo/client';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { adminClient, eventually, processAlive, qemuPid, qmpStatus } from '../support/cloud';
import { openrcPath } from '../support/e2e-env';
import { openrcEnv } from '../support/openrc';

const run = promisify(execFile);

describe('openstack CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'osc-'));
  const adminEnv = openrcEnv(openrcPath);
  const suffix = Date.now().toString(36);
  const project = `cli-${suffix}`;
  const user = `cli-user-${suffix}`;
  const password = `pw-${suffix}-Secret`;
  let userEnv: Record<string, string>;
  let api: OpenStackClient;
  let serverId: string | undefined;

  /** Runs `openstack ARGS -f json` with only the openrc variables (plus PATH/HOME) in its environment. */
  async function osc(env: Record<string, string>, ...args: string[]): Promise<any> {
    const { stdout } = await run('openstack', [...args, '-f', 'json'], {
      env: { PATH: process.env.PATH!, HOME: dir, ...env },
      timeout: 120_000,
    });
    return stdout.trim() ? JSON.parse(stdout) : undefined;
  }
  /** Same, for commands that print nothing. */
  async function oscQuiet(env: Record<string, string>, ...args: string[]): Promise<void> {
    await run('openstack', args, { env: { PATH: process.env.PATH!, HOME: dir, ...env }, timeout: 120_000 });
  }

  beforeAll(async () => {
    api = await adminClient();
    userEnv = { ...adminEnv, OS_USERNAME: user, OS_PASSWORD: password, OS_PROJECT_NAME: project };
  });

  afterAll(async () => {
    if (serverId) {
      await api.request('DELETE', `/compute/v2.1/servers/${serverId}`);
      await api.waitForGone(serverId).catch(() => undefined);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('issues a token and lists the catalog', async () => {
    const token = await osc(adminEnv, 'token', 'issue');
    expect(token.id).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(token.project_id).toMatch(/^[0-9a-f]{32}$/);
    const catalog = await osc(adminEnv, 'catalog', 'list');
    expect(catalog.map((s: { Type: string }) => s.Type).sort()).toEqual(['compute', 'identity', 'image', 'network']);
  });

  it('creates a project and a user, and gives the user the member role', async () => {
    const p = await osc(adminEnv, 'project', 'create', project);
    expect(p.name).toBe(project);
    const u = await osc(adminEnv, 'user', 'create', '--project', project, '--password', password, user);
    expect(u.default_project_id).toBe(p.id);
    await oscQuiet(adminEnv, 'role', 'add', '--project', project, '--user', user, 'member');
    const token = await osc(userEnv, 'token', 'issue');
    expect(token.project_id).toBe(p.id);
  });

  it('creates, lists and shows a flavor', async () => {
    const f = await osc(adminEnv, 'flavor', 'create', '--ram', '128', '--disk', '1', '--vcpus', '1', `cli.nano-${suffix}`);
    expect(f).toMatchObject({ ram: 128, disk: 1, vcpus: 1 });
    const list = await osc(userEnv, 'flavor', 'list');
    expect(list.map((x: { Name: string }) => x.Name)).toContain(`cli.nano-${suffix}`);
    expect((await osc(userEnv, 'flavor', 'show', `cli.nano-${suffix}`)).ram).toBe(128);
  });

  it('creates a key pair', async () => {
    const out = await run('openstack', ['keypair', 'create', `cli-key-${suffix}`], {
      env: { PATH: process.env.PATH!, HOME: dir, ...userEnv },
    });
    expect(out.stdout).toMatch(/-----BEGIN (RSA |OPENSSH )?PRIVATE KEY-----/);
    const shown = await osc(userEnv, 'keypair', 'show', `cli-key-${suffix}`);
    expect(shown.fingerprint).toMatch(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
  });

  it('creates a server with --wait that is a real running QEMU, and lists and shows it', async () => {
    const imageFile = join(dir, 'disk.raw');
    writeFileSync(imageFile, Buffer.alloc(1024 * 1024));
    await osc(userEnv, 'image', 'create', '--file', imageFile, '--disk-format', 'raw', '--container-format', 'bare', `cli-img-${suffix}`);
    // The CLI prints the image as created, before its upload: show it to see the result.
    expect((await osc(userEnv, 'image', 'show', `cli-img-${suffix}`)).status).toBe('active');
    // Round trip: the bytes the CLI saves are the bytes it uploaded.
    await oscQuiet(userEnv, 'image', 'save', '--file', join(dir, 'saved.raw'), `cli-img-${suffix}`);
    expect(readFileSync(join(dir, 'saved.raw')).equals(readFileSync(imageFile))).toBe(true);
    await oscQuiet(userEnv, 'image', 'set', '--property', 'purpose=cli-test', `cli-img-${suffix}`);
    expect(JSON.stringify((await osc(userEnv, 'image', 'show', `cli-img-${suffix}`)).properties)).toMatch(/cli-test/);
    const server = await osc(
      userEnv, 'server', 'create', '--flavor', `cli.nano-${suffix}`, '--image', `cli-img-${suffix}`,
      '--key-name', `cli-key-${suffix}`, '--wait', `cli-vm-${suffix}`,
    );
    serverId = server.id;
    expect(server.status).toBe('ACTIVE');
    const list = await osc(userEnv, 'server', 'list');
    expect(list.map((s: { ID: string }) => s.ID)).toContain(serverId);
    const host = (await api.getServer(serverId!))['OS-EXT-SRV-ATTR:host'];
    expect(processAlive(qemuPid(host, serverId!)!)).toBe(true);
    expect(await qmpStatus(host, serverId!)).toBe('running');
    const shown = await osc(userEnv, 'server', 'show', serverId!);
    expect(shown).toMatchObject({ id: serverId, status: 'ACTIVE', name: `cli-vm-${suffix}` });
  });

  it('stops, starts, reboots, pauses, unpauses, suspends and resumes it, for real', async () => {
    const host = (await api.getServer(serverId!))['OS-EXT-SRV-ATTR:host'];
    const waitStatus = (status: string) => api.waitForStatus(serverId!, status);
    const settled = () => eventually('task to finish', async () => (await api.getServer(serverId!))['OS-EXT-STS:task_state'] === null);

    const pid = qemuPid(host, serverId!)!;
    await oscQuiet(userEnv, 'server', 'stop', serverId!);
    await waitStatus('SHUTOFF');
    await eventually('QEMU to exit', async () => !processAlive(pid));

    await oscQuiet(userEnv, 'server', 'start', serverId!);
    await waitStatus('ACTIVE');
    expect(await qmpStatus(host, serverId!)).toBe('running');

    await oscQuiet(userEnv, 'server', 'reboot', '--hard', serverId!);
    await settled();
    expect(await qmpStatus(host, serverId!)).toBe('running');
    await oscQuiet(userEnv, 'server', 'reboot', '--soft', '--wait', serverId!);
    await settled();
    expect(await qmpStatus(host, serverId!)).toBe('running');

    await oscQuiet(userEnv, 'server', 'pause', serverId!);
    await waitStatus('PAUSED');
    expect(await qmpStatus(host, serverId!)).toBe('paused');
    await oscQuiet(userEnv, 'server', 'unpause', serverId!);
    await waitStatus('ACTIVE');
    expect(await qmpStatus(host, serverId!)).toBe('running');

    const before = qemuPid(host, serverId!)!;
    await oscQuiet(userEnv, 'server', 'suspend', serverId!);
    await waitStatus('SUSPENDED');
    await eventually('QEMU to exit', async () => !processAlive(before));
    await oscQuiet(userEnv, 'server', 'resume', serverId!);
    await waitStatus('ACTIVE');
    expect(await qmpStatus(host, serverId!)).toBe('running');
  });

  it('creates an anti-affinity server group', async () => {
    const group = await osc(userEnv, 'server', 'group', 'create', '--policy', 'anti-affinity', `cli-group-${suffix}`);
    expect(JSON.stringify(group.policies ?? group.policy)).toMatch(/"anti-affinity"/);
    const shown = await osc(userEnv, 'server', 'group', 'show', group.id);
    expect(shown.name).toBe(`cli-group-${suffix}`);
  });

  it('shows and sets quotas', async () => {
    await oscQuiet(adminEnv, 'quota', 'set', '--instances', '7', '--cores', '9', project);
    // As in Keystone, a member may not look projects up by name: it shows its own project's quota.
    const quota = await osc(userEnv, 'quota', 'show');
    expect(JSON.stringify(await osc(adminEnv, 'quota', 'show', project))).toMatch(/"instances"\s*:\s*7|"Resource":\s*"instances",\s*"Limit":\s*7/);
    const flat = JSON.stringify(quota);
    expect(flat).toMatch(/"instances"\s*:\s*7|"Resource":\s*"instances",\s*"Limit":\s*7/);
  });

  it('deletes the server with --wait: the QEMU is gone', async () => {
    const host = (await api.getServer(serverId!))['OS-EXT-SRV-ATTR:host'];
    const pid = qemuPid(host, serverId!)!;
    await oscQuiet(userEnv, 'server', 'delete', '--wait', serverId!);
    expect((await api.request('GET', `/compute/v2.1/servers/${serverId}`)).status).toBe(404);
    await eventually('QEMU to exit', async () => !processAlive(pid));
    serverId = undefined;
  });
});
