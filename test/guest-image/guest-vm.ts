/**
 * A throw-away QEMU guest under TCG, for tests that need the test guest (deploy/guest-image) to
 * answer. Its serial console is a UNIX socket this process listens on before QEMU starts, so no
 * output is lost; an HMP monitor socket presses the power button; a disk boots through a qcow2
 * overlay in a temp dir, so the image itself is never written. destroy() kills QEMU and removes
 * the temp dir, whatever state the guest is in.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CONTROL_SEQUENCE = /\x1b\[[0-9;?]*[A-Za-z]/g;

export interface GuestVmOptions {
  /** Boot this qcow2 image from its own bootloader, through an overlay. */
  image?: string;
  /** Direct kernel boot instead of the bootloader. */
  kernel?: { vmlinuz: string; initrd: string; append: string };
  /** A virtio-net NIC on QEMU's user-mode network (DHCP 10.0.2.15/24), restrict=on: nothing leaves it. */
  userNet?: boolean;
  memoryMb?: number;
}

export class GuestVm {
  /** The temp dir (sockets, overlay), made by start(). */
  dir = '';
  /** When QEMU was spawned (ms since the epoch). */
  startedAt = 0;
  private output = '';
  private qemuStderr = '';
  private serial?: Socket;
  private server?: Server;
  private qemu?: ChildProcess;
  private exit?: Promise<number | null>;
  private exitCode: number | null | undefined;

  /** Everything the guest printed on its serial console so far. */
  get console(): string {
    return this.output;
  }

  /** The throw-away overlay that the guest boots from. */
  get overlay(): string {
    return join(this.dir, 'disk.qcow2');
  }

  async start(options: GuestVmOptions): Promise<this> {
    this.dir = mkdtempSync(join(tmpdir(), 'nubo-guest-vm-'));
    const serialPath = join(this.dir, 'serial.sock');
    this.server = createServer((socket) => {
      this.serial = socket;
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (this.output += chunk));
      socket.on('error', () => undefined); // QEMU going away mid-write is expected at the end
    });
    await new Promise<void>((resolve, reject) => this.server!.once('error', reject).listen(serialPath, resolve));

    const args = ['-accel', 'tcg', '-machine', 'q35', '-m', String(options.memoryMb ?? 256), '-nodefaults',
      '-display', 'none', '-no-reboot', '-chardev', `socket,id=serial0,path=${serialPath}`, '-serial', 'chardev:serial0',
      '-monitor', `unix:${join(this.dir, 'hmp.sock')},server=on,wait=off`];
    if (options.image) {
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', options.image, this.overlay]);
      args.push('-drive', `file=${this.overlay},format=qcow2,if=virtio`);
    }
    if (options.kernel) {
      args.push('-kernel', options.kernel.vmlinuz, '-initrd', options.kernel.initrd, '-append', options.kernel.append);
    }
    if (options.userNet) {
      args.push('-netdev', 'user,id=net0,restrict=on', '-device', 'virtio-net-pci,netdev=net0');
    }
    this.startedAt = Date.now();
    const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.qemu = qemu;
    qemu.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.qemuStderr += chunk));
    this.exit = new Promise((resolve) => qemu.once('exit', (code) => resolve((this.exitCode = code))));
    return this;
  }

  /**
   * Waits until the console, from offset `from` on and without terminal control sequences (ash
   * asks for the cursor position after each prompt), matches; fails early if QEMU exits.
   */
  async waitFor(pattern: RegExp, options: { from?: number; timeoutMs?: number } = {}): Promise<RegExpMatchArray> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    for (;;) {
      const match = this.output.slice(options.from ?? 0).replace(CONTROL_SEQUENCE, '').match(pattern);
      if (match) return match;
      if (this.exitCode !== undefined || Date.now() > deadline) {
        const why = this.exitCode !== undefined ? `QEMU exited (${this.exitCode}): ${this.qemuStderr.trim()}` : 'timed out';
        throw new Error(`console never showed ${pattern} (${why}); console tail:\n${this.output.slice(-1500)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Types a line on the serial console and waits for `expect` in what follows. */
  async run(command: string, expect: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    const from = this.output.length;
    this.serial?.write(`${command}\n`);
    return this.waitFor(expect, { from, timeoutMs });
  }

  /** Presses the ACPI power button (HMP system_powerdown). */
  async pressPowerButton(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const monitor = connect(join(this.dir, 'hmp.sock'), () => monitor.end('system_powerdown\n', resolve));
      monitor.on('error', reject);
    });
  }

  /** QEMU's exit code once it exits on its own, or an error after the timeout. */
  async exited(timeoutMs: number): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`QEMU still running after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exit!, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async destroy(): Promise<void> {
    if (this.qemu && this.exitCode === undefined) {
      this.qemu.kill('SIGKILL');
      await this.exit;
    }
    this.serial?.destroy();
    await new Promise<void>((resolve) => (this.server?.listening ? this.server.close(() => resolve()) : resolve()));
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
