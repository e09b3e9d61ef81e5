/**
 * The test guest image (deploy/guest-image/build.sh), built (or taken from its cache) and booted
 * for real under TCG (a Linux guest does not run under the nested KVM of the test machines):
 * from its own bootloader on a throw-away overlay with DHCP from QEMU's user-mode network
 * (restrict=on: nothing leaves it), and directly with a static address from the command line.
 * Needs root (the build installs what it lacks with apt-get).
 */
import { execFile, execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GuestVm } from './guest-vm';

jest.setTimeout(600_000);

const isRoot = process.getuid?.() === 0;
const buildScript = join(__dirname, '..', '..', 'deploy', 'guest-image', 'build.sh');
const outDir = join(process.env.NUBO_STATE_DIR ?? '/tmp/nubo-test', 'guest-image');
const bootTimeoutMs = 120_000;

async function build(): Promise<string> {
  const { stdout } = await promisify(execFile)('bash', [buildScript, outDir], { timeout: 600_000, maxBuffer: 1 << 20 });
  return stdout.trim();
}

(isRoot ? describe : describe.skip)('test guest image (deploy/guest-image/build.sh, needs root)', () => {
  let image: string;

  beforeAll(async () => {
    image = await build();
  });

  describe('build', () => {
    it('writes a small standalone qcow2 disk, with the kernel and initramfs beside it', () => {
      expect(image).toBe(join(outDir, 'nubo-test.qcow2'));
      const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', image], { encoding: 'utf8' }));
      expect(info.format).toBe('qcow2');
      expect(info['backing-filename']).toBeUndefined();
      expect(info['actual-size']).toBeLessThan(64 << 20);
      expect(statSync(join(outDir, 'vmlinuz')).size).toBeGreaterThan(1 << 20);
      expect(statSync(join(outDir, 'initrd.img')).size).toBeGreaterThan(512 << 10);
    });

    it('leaves a cached image untouched when run again', async () => {
      const before = statSync(image).mtimeMs;
      expect(await build()).toBe(image);
      expect(statSync(image).mtimeMs).toBe(before);
    });
  });

  describe('booted from its disk (BIOS, syslinux) with DHCP', () => {
    const vm = new GuestVm();

    beforeAll(async () => {
      await vm.start({ image, userNet: true });
    });

    afterAll(async () => {
      await vm.destroy();
    });

    it('boots, mounts its boot partition and takes the DHCP address', async () => {
      await vm.waitFor(/NUBO-GUEST: booted/, { timeoutMs: bootTimeoutMs });
      console.log(`guest image: NUBO-GUEST: booted ${Date.now() - vm.startedAt} ms after QEMU started (TCG)`);
      await vm.waitFor(/NUBO-GUEST: disk mounted/);
      await vm.waitFor(/NUBO-GUEST: address 10\.0\.2\.15\/24/);
      await vm.waitFor(/NUBO-GUEST: ready[\s\S]*# $/);
    });

    it('runs commands typed on the serial console', async () => {
      await vm.run('echo hello-$((6*7))', /^hello-42\r?$/m);
      // restrict=on: QEMU's DHCP offers no router, so the guest has only its link route.
      await vm.run('ip route', /^10\.0\.2\.0\/24 dev eth0 .*src 10\.0\.2\.15/m);
    });

    it('writes a file in the guest that reaches its disk', async () => {
      // fsync (sync FILE) makes FAT flush the disk's cache, so QEMU writes out its qcow2 metadata too.
      await vm.run('echo disk-$((2+3)) > /mnt/boot/probe.txt && sync /mnt/boot/probe.txt && echo synced-$((1+1))', /^synced-2\r?$/m);
      const raw = join(vm.dir, 'disk.raw');
      // -U: the running QEMU holds the overlay's lock; everything is flushed, so a shared read is consistent.
      execFileSync('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', vm.overlay, raw]);
      expect(execFileSync('mtype', ['-i', `${raw}@@1M`, '::probe.txt'], { encoding: 'utf8' }).trim()).toBe('disk-5');
    });

    it('runs memwriter: its counter grows and its memory checks out', async () => {
      const from = vm.console.length;
      await vm.run('memwriter 8 4 &', /NUBO-MEMWRITER: started pid \d+ size 8 MiB rate 4 MiB\/s/);
      const report = /NUBO-MEMWRITER: counter (\d+) checksum [0-9a-f]{16} (\S+)/g;
      // Three whole report lines (a third one still arriving would match a bare prefix).
      await vm.waitFor(/(NUBO-MEMWRITER: counter \d+ checksum [0-9a-f]{16} \S+\r?\n[\s\S]*?){3}/, { from });
      const reports = [...vm.console.slice(from).matchAll(report)].map((m) => ({ counter: Number(m[1]), check: m[2] }));
      expect(reports.map((r) => r.check)).toEqual(reports.map(() => 'ok'));
      expect(reports[2].counter).toBeGreaterThan(reports[0].counter);
      await vm.run('kill %1; echo stopped-$((3*3))', /^stopped-9\r?$/m);
    });

    it('powers off when its ACPI power button is pressed', async () => {
      await vm.pressPowerButton();
      await vm.waitFor(/NUBO-GUEST: powering off/);
      expect(await vm.exited(60_000)).toBe(0);
    });
  });

  describe('booted directly with a static address from the kernel command line, no disk', () => {
    const vm = new GuestVm();

    afterAll(async () => {
      await vm.destroy();
    });

    it('sets the address, gateway and MTU it was given and reports no disk', async () => {
      const append = 'console=ttyS0 nubo.ip=10.0.2.50/24 nubo.gw=10.0.2.2 nubo.mtu=1400 nubo.hostname=static-guest';
      await vm.start({ kernel: { vmlinuz: join(outDir, 'vmlinuz'), initrd: join(outDir, 'initrd.img'), append }, userNet: true });
      await vm.waitFor(/NUBO-GUEST: booted/, { timeoutMs: bootTimeoutMs });
      await vm.waitFor(/NUBO-GUEST: no disk/);
      await vm.waitFor(/NUBO-GUEST: address 10\.0\.2\.50\/24/);
      await vm.waitFor(/NUBO-GUEST: ready[\s\S]*static-guest:\/# $/);
      await vm.run('cat /sys/class/net/eth0/mtu', /^1400\r?$/m);
      await vm.run('ip route', /^default via 10\.0\.2\.2 dev eth0/m);
    });
  });
});

