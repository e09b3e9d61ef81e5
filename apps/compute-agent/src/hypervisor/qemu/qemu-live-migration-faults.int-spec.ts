/**
 * Live-migration faults against real QEMUs (MigrationHarness: two drivers on this machine,
 * loopback underlay), one regression test per bug found in QEMU 7.2 or in the agent:
 * - the destination QEMU killed mid-stream with multifd asked: the source must migrate again
 *   (QEMU's multifd sender deadlocked about one kill in three, qemu-migration-quirks.ts 1);
 * - TCG pre-copy must keep every guest write (qemu-migration-quirks.ts 2; the spec's QEMU wrapper
 *   applies tcgRamArgument until qemu-argv does), dirty-rate measurements included;
 * - a former destination's stale `completed` is never taken for its next migration's;
 * - prepare opens both listener ports with one firewall update.
 * The guest cases boot the test guest (deploy/guest-image, TCG, root for its build like the
 * balloon spec); its kernel and initrd fill RAM with real data, so multifd channels carry pages.
 */
import { Logger } from '@nestjs/common';
import { ConflictError, ImageSource, MigrationParameters } from '@nubo/contracts';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGuestImage, serveGuestImage } from '../../../../../test/support/qemu-guest-fixture';
import { resolveAccelerator } from './accelerator';
import { ImageCache } from './image-cache';
import { ListenerOpening, MigrationListenerFirewall } from './migration-listener-firewall';
import { OUTGOING_MARKER, readMarker, writeMarker } from './migration-markers';
import { instancePaths } from './qemu-argv';
import { QemuInstances } from './qemu-instances';
import { QemuLauncher } from './qemu-launcher';
import { Ids, MigrationHarness, TestHost } from '../../../../../test/support/live-migration-harness';
import { QemuMigrationIncoming } from './qemu-migration-incoming';
import { isAlive, readPidfile, sleep } from './qemu-process';
import { QemuDriver } from './qemu.driver';

const TABLE = 'nubo_lmig_fit';
const MiB = 2 ** 20;
const FAST: MigrationParameters = { maxBandwidthBytesPerSec: 10 * 2 ** 30, downtimeLimitMs: 300, multifdChannels: 2, autoConverge: true, postcopyAllowed: false };
const THROTTLED: MigrationParameters = { ...FAST, maxBandwidthBytesPerSec: 4 * MiB };
const isRoot = process.getuid?.() === 0;
const describeIt = process.env.NUBO_DATABASE_URL && isRoot ? describe : describe.skip;

/** QEMU with tcgRamArgument applied to a TCG guest's `-m <n>M` (a no-op once qemu-argv does it). */
function tcgRamWrapper(dir: string): string {
  const path = join(dir, 'qemu-tcg-ram');
  writeFileSync(path, [
    '#!/bin/bash',
    'args=("$@"); tcg=0',
    'for ((i = 0; i < ${#args[@]}; i++)); do [[ ${args[i]} == -accel && ${args[i+1]} == tcg* ]] && tcg=1; done',
    'for ((i = 0; i < ${#args[@]}; i++)); do',
    '  if ((tcg)) && [[ ${args[i]} == -m && ${args[i+1]} =~ ^([0-9]+)M$ ]]; then args[i+1]="$((BASH_REMATCH[1] * 1024 - 8))k"; fi',
    'done',
    'exec qemu-system-x86_64 "${args[@]}"',
    '',
  ].join('\n'));
  chmodSync(path, 0o755);
  return path;
}

describeIt('QemuLiveMigration faults (real QEMUs)', () => {
  jest.setTimeout(900_000);

  describe('with the test guest (TCG)', () => {
    let h: MigrationHarness;
    let served: Awaited<ReturnType<typeof serveGuestImage>> | undefined;
    let image: ImageSource;
    let scratch = '';
    let qemu = '';

    const running = async (host: TestHost, serverId: string) => (await h.ops<{ status: string }>(host, serverId, 'query-status')).status;
    /** The last memwriter report on `host`'s console. */
    const lastReport = (host: TestHost, serverId: string) => h.console(host, serverId).match(/NUBO-MEMWRITER: counter (\d+) checksum \w+ (ok|MISMATCH.*)/g)?.at(-1) ?? '';
    const oops = (host: TestHost, serverId: string) => /Oops|BUG:|Kernel panic|general protection|MISMATCH/.exec(h.console(host, serverId))?.[0];

    /** The guest keeps counting on `host`, with good checksums, and its kernel is intact. */
    async function intact(host: TestHost, serverId: string): Promise<void> {
      const before = lastReport(host, serverId);
      const deadline = Date.now() + 60_000;
      while (lastReport(host, serverId) === before && Date.now() < deadline) await sleep(250);
      expect(lastReport(host, serverId)).toMatch(/ ok$/);
      expect(oops(host, serverId)).toBeUndefined();
      expect(await running(host, serverId)).toBe('running');
    }

    beforeAll(async () => {
      Logger.overrideLogger(['error']);
      scratch = mkdtempSync(join(tmpdir(), 'lmig-qemu-'));
      qemu = tcgRamWrapper(scratch);
      served = await serveGuestImage(await buildGuestImage());
      image = served.image;
    });
    beforeEach(() => (h = new MigrationHarness('tcg', TABLE, { min: 47600, max: 47699 }, qemu)));
    afterEach(() => h.close());
    afterAll(async () => {
      await served?.close();
      if (scratch) rmSync(scratch, { recursive: true, force: true });
    });

    it('the destination QEMU killed mid-stream 3 times in a row (multifd 2 asked): the source runs on and migrates at once after each', async () => {
      const spec = h.newSpec({ image, diskGb: 1, ramMb: 256, accelerator: 'tcg' });
      await h.a.driver.spawn(spec);
      await h.waitConsole(h.a, spec.serverId, 'NUBO-GUEST: ready');
      // Dirtying as fast as the stream goes: pre-copy never converges, it iterates.
      await h.type(h.a, spec.serverId, 'memwriter 8 4 1 &');
      await h.waitConsole(h.a, spec.serverId, 'NUBO-MEMWRITER: counter');
      let [from, to] = [h.a, h.b];
      // Three rounds: with the clamp off, QEMU 7.2 deadlocked on 2 of 2 (the suite's time is scarce).
      for (let round = 1; round <= 3; round++) {
        const ids = await h.migrate(spec, from, to, THROTTLED, { block: true });
        // Past the first pass over RAM (a few pages an iteration, then a multifd SYNC: where QEMU
        // 7.2 deadlocked on nearly every kill), then the destination dies.
        const deadline = Date.now() + 120_000;
        const syncs = async () => (await h.ops<{ ram?: { 'dirty-sync-count'?: number } }>(from, spec.serverId, 'query-migrate')).ram?.['dirty-sync-count'] ?? 0;
        while ((await syncs()) < 3 && Date.now() < deadline) await sleep(100);
        expect((await from.driver.liveMigration.status(ids)).phase).toBe('active');
        await h.kill(to, spec.serverId);
        const failed = await h.until(from, ids, ['failed', 'cancelled'], 30_000).catch((error: Error) => error);
        expect(failed).toMatchObject({ phase: 'failed' });
        await expect(to.driver.liveMigration.abortDestination(ids)).resolves.toBe(true);
        expect(await running(from, spec.serverId)).toBe('running');
        // At once: QEMU cleaned the failed migration up (no yank instance left, no stuck thread).
        const done = await h.migrateFully(spec, from, to, FAST, { block: true });
        expect(done.phase).toBe('completed');
        await intact(to, spec.serverId);
        [from, to] = [to, from];
      }
      await from.driver.destroy(spec.serverId);
    });

    it('TCG pre-copy keeps every write of a guest dirtying 32 MiB/s, dirty rate measured before each migration', async () => {
      const spec = h.newSpec({ image, diskGb: 1, ramMb: 512, accelerator: 'tcg' });
      await h.a.driver.spawn(spec);
      await h.waitConsole(h.a, spec.serverId, 'NUBO-GUEST: ready');
      await h.type(h.a, spec.serverId, 'memwriter 64 32 1 &');
      await h.waitConsole(h.a, spec.serverId, 'NUBO-MEMWRITER: counter');
      let [from, to] = [h.a, h.b];
      for (let round = 1; round <= 4; round++) {
        const ids = { serverId: spec.serverId, migrationId: `dirty-${round}` };
        // Two at once (a retried pre-flight): the second waits for the first instead of failing.
        const rates = await Promise.all([from.driver.liveMigration.dirtyRate(ids, 1), from.driver.liveMigration.dirtyRate(ids, 1)]);
        expect(rates).toEqual([expect.any(Number), expect.any(Number)]);
        const done = await h.migrateFully(spec, from, to, FAST, { block: true });
        expect(done.phase).toBe('completed');
        await intact(to, spec.serverId);
        [from, to] = [to, from];
      }
      await from.driver.destroy(spec.serverId);
    });
  });

  describe('with firmware-only guests', () => {
    const accelerator = resolveAccelerator('auto');
    let h: MigrationHarness;
    beforeAll(() => Logger.overrideLogger(['error']));
    beforeEach(() => (h = new MigrationHarness(accelerator, TABLE, { min: 47600, max: 47699 })));
    afterEach(() => h.close());

    /** A server that came to `b` by migration: its QEMU answers `completed` for that one. */
    async function formerDestination(): Promise<{ serverId: string; spec: ReturnType<MigrationHarness['newSpec']> }> {
      const spec = h.newSpec();
      await h.a.driver.spawn(spec);
      await h.migrateFully(spec, h.a, h.b, FAST, { block: false });
      expect((await h.ops<{ status: string }>(h.b, spec.serverId, 'query-migrate')).status).toBe('completed');
      return { serverId: spec.serverId, spec };
    }

    it('a former destination reports its new migration, not the stale completed of the one that brought it', async () => {
      const { serverId, spec } = await formerDestination();
      const ids: Ids = { serverId, migrationId: 'stale-1' };
      const prepared = await h.a.driver.liveMigration.prepare({ ...ids, spec, sourceAddress: '127.0.0.1', listenAddress: '127.0.0.1', block: false, channels: FAST });
      // A dirty-rate measurement holds `start` before `migrate` (it waits the measurement out).
      await h.ops(h.b, serverId, 'calc-dirty-rate', { 'calc-time': 3 });
      const start = h.b.driver.liveMigration.start({ ...ids, destination: { address: '127.0.0.1', port: prepared.port }, parameters: FAST, deadline: Date.now() + 60_000 });
      start.catch(() => undefined);
      await sleep(500);
      const early = await h.b.driver.liveMigration.status(ids);
      expect(early.phase).toBe('setup');
      expect(early).not.toHaveProperty('downtimeMs');
      await expect(h.b.driver.liveMigration.cleanupSource(ids)).rejects.toThrow(ConflictError);
      await start;
      const done = await h.until(h.b, ids, ['completed'], 60_000);
      expect(done.phase).toBe('completed');
      await h.finish(h.a, ids);
      await h.b.driver.liveMigration.cleanupSource(ids);
      await h.a.driver.destroy(serverId);
    });

    it('a cancel before `migrate` stops the start: nothing migrates, the source runs on', async () => {
      const { serverId, spec } = await formerDestination();
      const ids: Ids = { serverId, migrationId: 'stale-2' };
      const prepared = await h.a.driver.liveMigration.prepare({ ...ids, spec, sourceAddress: '127.0.0.1', listenAddress: '127.0.0.1', block: false, channels: FAST });
      await h.ops(h.b, serverId, 'calc-dirty-rate', { 'calc-time': 2 });
      const start = h.b.driver.liveMigration.start({ ...ids, destination: { address: '127.0.0.1', port: prepared.port }, parameters: FAST, deadline: Date.now() + 60_000 });
      start.catch(() => undefined);
      await sleep(300);
      await expect(h.b.driver.liveMigration.cancel(ids)).resolves.toBe(true);
      await expect(start).rejects.toThrow(/cancelled before migrate/);
      expect((await h.ops<{ status: string }>(h.b, serverId, 'query-migrate')).status).toBe('completed'); // still the old one's
      expect((await h.ops<{ status: string }>(h.b, serverId, 'query-status')).status).toBe('running');
      await expect(h.a.driver.liveMigration.abortDestination(ids)).resolves.toBe(true);
      await h.b.driver.destroy(serverId);
    });

    it('a restarted agent does not take a stale completed for the migration its marker names: rolled back, the guest never ended', async () => {
      const { serverId } = await formerDestination();
      const ids: Ids = { serverId, migrationId: 'stale-3' };
      const dir = instancePaths(h.b.stateDir, serverId).dir;
      const pid = readPidfile(instancePaths(h.b.stateDir, serverId).pidfile);
      // What an agent leaves when it dies after the marker, before `migrate`.
      await writeMarker(dir, OUTGOING_MARKER, { migrationId: ids.migrationId, parameters: FAST });
      await h.b.driver.close();
      const restarted = new QemuDriver({ stateDir: h.b.stateDir, accelerator, qemuUser: '', migration: { ports: { min: 47650, max: 47699 }, firewall: { table: TABLE } } });
      try {
        await restarted.adopt();
        await expect(restarted.liveMigration.status(ids)).resolves.toMatchObject({ phase: 'none' });
        await expect(restarted.liveMigration.cleanupSource(ids)).rejects.toThrow(ConflictError);
        expect(isAlive(pid, serverId)).toBe(true);
        expect(readMarker(dir, OUTGOING_MARKER)).toBeUndefined();
        expect(existsSync(dir)).toBe(true);
        await restarted.destroy(serverId);
      } finally {
        await restarted.close();
      }
    });

    it('prepare opens both listener ports (stream and NBD) with one firewall update', async () => {
      const openings: ListenerOpening[] = [];
      const firewall = new MigrationListenerFirewall({ table: TABLE });
      const open = firewall.open.bind(firewall);
      firewall.open = (o: ListenerOpening) => (openings.push(o), open(o));
      const dir = join(h.root, 'c');
      const incoming = new QemuMigrationIncoming(new QemuInstances(dir), new QemuLauncher({ accelerator, qemuUser: '' }, new ImageCache({ dir: join(dir, 'images') })), firewall, { min: 47650, max: 47699 });
      const spec = h.newSpec({ ephemeralGb: 1 });
      const ids: Ids = { serverId: spec.serverId, migrationId: 'one-nft' };
      try {
        const reply = await incoming.prepare({ ...ids, spec, sourceAddress: '127.0.0.1', listenAddress: '127.0.0.1', block: true, channels: FAST });
        expect(openings).toEqual([{ migrationId: ids.migrationId, sourceAddress: '127.0.0.1', ports: [reply.port, reply.nbd!.port] }]);
      } finally {
        await incoming.abort(ids);
      }
    });
  });
});
