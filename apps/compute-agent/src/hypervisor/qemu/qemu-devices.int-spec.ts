/**
 * The devices and sockets of QEMU's command line, against real QEMU 7.2: VNC on a UNIX socket
 * (never TCP), pvpanic with `-action panic=shutdown`, the balloon, and the serial console on a
 * UNIX socket that QEMU logs to console.log. The console cases boot the test guest under TCG and
 * are skipped when its image has not been built (`npm run guest-image`). The state dir contains
 * a comma on purpose: QEMU must get it escaped.
 */
import { Logger } from '@nestjs/common';
import { ImageSource, InstanceSpec } from '@nubo/contracts';
import { QmpClient, QmpEvent } from '@nubo/qmp';
import { pidsNaming } from '@nubo/testing';
import { randomInt, randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findGuestImage, greetingOf, listeningTcpSockets, serveGuestImage, typeOnSerial, waitForText } from '../../../../../test/support/qemu-guest-fixture';
import { resolveAccelerator } from './accelerator';
import { instancePaths } from './qemu-argv';
import { isAlive, killQemu, waitForExit } from './qemu-process';
import { QemuDriver } from './qemu.driver';

const accelerator = resolveAccelerator('auto');

describe(`${QemuDriver.name} devices and sockets`, () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'nubo-devices,it-'));
  const serverIds: string[] = [];
  let driver: QemuDriver;

  function newSpec(extra: Partial<InstanceSpec> = {}): InstanceSpec {
    const serverId = randomUUID();
    serverIds.push(serverId);
    return { serverId, vcpus: 1, ramMb: 64, diskGb: 0, ...extra };
  }

  async function withOps<T>(spec: InstanceSpec, fn: (ops: QmpClient) => Promise<T>): Promise<T> {
    const ops = await QmpClient.connect(instancePaths(stateDir, spec.serverId).qmpOps);
    try {
      return await fn(ops);
    } finally {
      ops.close();
    }
  }

  beforeAll(() => {
    Logger.overrideLogger(['error']);
    // As an agent's state dir would be: QEMU may run as another user and must reach its files.
    chmodSync(stateDir, 0o711);
    driver = new QemuDriver({ stateDir, accelerator });
  });

  afterAll(async () => {
    await driver?.close();
    for (const id of serverIds) for (const pid of pidsNaming(id)) await killQemu(pid, id);
    rmSync(stateDir, { recursive: true, force: true });
  });

  describe('a firmware-only guest', () => {
    const spec = newSpec();
    const paths = instancePaths(stateDir, spec.serverId);
    let pid: number;

    beforeAll(async () => {
      pid = (await driver.spawn(spec)).pid!;
    });

    it('serves VNC on its UNIX socket (an RFB greeting) and listens on no TCP port', async () => {
      expect(await greetingOf(paths.vnc)).toMatch(/^RFB 003\.00\d\n$/);
      expect(listeningTcpSockets(pid)).toEqual([]);
    });

    it('has the panic device, the balloon balloon0 and a VGA', async () => {
      const peripherals = await withOps(spec, (ops) => ops.execute<Array<{ name: string; type: string }>>('qom-list', { path: '/machine/peripheral' }));
      expect(peripherals).toEqual(
        expect.arrayContaining([
          { name: 'panic0', type: 'child<pvpanic>' },
          { name: 'balloon0', type: 'child<virtio-balloon-pci>' },
          { name: 'video0', type: 'child<VGA>' },
        ]),
      );
      const balloon = await withOps(spec, (ops) => ops.execute<{ actual: number }>('query-balloon'));
      expect(balloon.actual).toBe(spec.ramMb * 2 ** 20);
      const deflate = await withOps(spec, (ops) => ops.execute('qom-get', { path: '/machine/peripheral/balloon0/virtio-backend', property: 'deflate-on-oom' }));
      expect(deflate).toBe(true);
    });

    it('ends QEMU with SHUTDOWN reason guest-panic when the guest signals a panic on pvpanic', async () => {
      const events: QmpEvent[] = [];
      await withOps(spec, async (ops) => {
        ops.on('event', (event) => events.push(event));
        // What a guest's pvpanic driver does on panic: write PANICKED (bit 0) to I/O port 0x505.
        await ops.execute('human-monitor-command', { 'command-line': 'o /b 0x505 1' }).catch(() => undefined);
        expect(await waitForExit(pid, spec.serverId, 10_000)).toBe(true);
      });
      expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(['GUEST_PANICKED', 'SHUTDOWN']));
      expect(events.find((e) => e.event === 'SHUTDOWN')?.data).toMatchObject({ guest: true, reason: 'guest-panic' });
      expect(isAlive(pid, spec.serverId)).toBe(false);
    });

    afterAll(async () => {
      await driver.destroy(spec.serverId);
    });
  });

  describe('hostile display names and metadata', () => {
    const hostile = ['a,b', ',,', ',id=evil,value=x', 'k=v=w', `"double" 'single'`, 'line\none\r\n\ttab', '-name', '--help', 'ünï 名前 \u{1F600}'];
    const spec = newSpec({ name: hostile.join(' | '), metadata: Object.fromEntries(hostile.map((text, i) => [`${i}:${text}`, text])) });

    it('are parsed by QEMU: it runs, answers query-status, and has them verbatim in one argv string', async () => {
      const { pid } = await driver.spawn(spec);
      expect(await withOps(spec, (ops) => ops.queryStatus())).toMatchObject({ status: 'running' });
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const type11 = argv.find((arg) => arg.startsWith('type=11,'))!;
      expect(type11).toContain(`value=io.nubo.name:${spec.name!.replace(/,/g, ',,')},`);
      for (const text of hostile) expect(type11).toContain(`:${text.replace(/,/g, ',,')}`);
      await withOps(spec, (ops) => ops.execute('quit').catch(() => undefined));
      expect(await waitForExit(pid, spec.serverId, 10_000)).toBe(true);
      await driver.destroy(spec.serverId);
    });
  });

  const guestImage = findGuestImage();
  (guestImage ? describe : describe.skip)('the serial console of the test guest (TCG)', () => {
    jest.setTimeout(300_000);
    let image: ImageSource;
    let closeImage: () => Promise<void>;
    const name = `web,1 "prod" --help ünï ${randomInt(1_000_000)}`;
    const spec = newSpec({ ramMb: 256, diskGb: 1, accelerator: 'tcg', name, metadata: { 'role:x': 'db,primary' } });
    const paths = instancePaths(stateDir, spec.serverId);

    beforeAll(async () => {
      ({ image, close: closeImage } = await serveGuestImage(guestImage!));
      spec.image = image;
      await driver.spawn(spec);
    });

    afterAll(async () => {
      await driver.destroy(spec.serverId);
      await closeImage?.();
    });

    it('takes bytes written to serial.sock to the guest, and logs its answer in console.log', async () => {
      await waitForText(paths.console, /NUBO-GUEST: ready/, { timeoutMs: 240_000 });
      // The shell computes the marker: its echo of the typed line cannot match it.
      const n = randomInt(1_000_000, 9_000_000);
      await typeOnSerial(paths.serial, `echo nubo-$((${n}+1))-marker\n`);
      const log = await waitForText(paths.console, new RegExp(`nubo-${n + 1}-marker`), { timeoutMs: 30_000 });
      expect(log).toContain(`echo nubo-$((${n}+1))-marker`);
      // The agent's consoleLog reads the same file.
      expect(await driver.consoleLog(spec.serverId, {})).toContain(`nubo-${n + 1}-marker`);
    });

    it('lets the guest read its name and metadata from SMBIOS (type 1 and OEM strings)', async () => {
      // SMBIOS strings are NUL-terminated in the raw table; each goes on a line of its own.
      const script = "tr '\\000' '\\n' < /sys/firmware/dmi/tables/DMI | grep -a 'io.nubo' | sed 's/^.*io[.]nubo/OEM> io.nubo/'";
      await typeOnSerial(paths.serial, `cat /sys/class/dmi/id/sys_vendor /sys/class/dmi/id/product_name /sys/class/dmi/id/product_serial; ${script}\n`);
      const log = await waitForText(paths.console, /OEM> io\.nubo\.meta\./, { timeoutMs: 30_000 });
      expect(log).toContain(`Nubo\r\nNubo Compute\r\n${spec.serverId}\r\n`);
      expect(log).toContain(`OEM> io.nubo.name:${name}\r\n`);
      expect(log).toContain('OEM> io.nubo.meta.role%3Ax:db,primary\r\n');
    });

    it('keeps the log across a stop and start (QEMU appends)', async () => {
      const before = readFileSync(paths.console, 'utf8');
      await driver.stop(spec.serverId, { graceSeconds: 30 });
      await driver.start(spec);
      const after = await waitForText(paths.console, /NUBO-GUEST: ready/, { timeoutMs: 240_000, count: 2 });
      expect(after.startsWith(before)).toBe(true);
    });
  });
});
