/**
 * The agent's QMP monitor of one QEMU: connects (waiting for QEMU to come up), and turns QMP
 * events and the connection's end into power states. Wire format lives in @nubo/qmp.
 */
import { Logger } from '@nestjs/common';
import { PowerState } from '@nubo/contracts';
import { QmpClient, QmpEvent, QmpStatus } from '@nubo/qmp';
import { EventEmitter } from 'node:events';
import { QemuExit, sleep } from './qemu-process';

/** QMP RunState -> power state. Anything not listed is a transitional, paused-like state. */
const POWER_STATE_OF_RUN_STATE: Record<string, PowerState> = {
  running: PowerState.Running,
  shutdown: PowerState.Shutdown,
  'guest-panicked': PowerState.Crashed,
  'internal-error': PowerState.Crashed,
};

export function powerStateOf(status: QmpStatus | string): PowerState {
  const runState = typeof status === 'string' ? status : status.status;
  return POWER_STATE_OF_RUN_STATE[runState] ?? PowerState.Paused;
}

/** QMP events that change (or reassert) the power state, with the run state they imply. */
const STATE_OF_EVENT: Record<string, { powerState: PowerState; runState?: string }> = {
  SHUTDOWN: { powerState: PowerState.Shutdown, runState: 'shutdown' },
  STOP: { powerState: PowerState.Paused, runState: 'paused' },
  RESUME: { powerState: PowerState.Running, runState: 'running' },
  RESET: { powerState: PowerState.Running },
  GUEST_PANICKED: { powerState: PowerState.Crashed, runState: 'guest-panicked' },
};

/** A power event of the monitor: the state it implies, and the QMP event it came from. */
export interface MonitorPowerEvent {
  powerState: PowerState;
  /** `EVENT` or `EVENT:reason`, for logs and the control plane. */
  reason: string;
  runState?: string;
  /** The QMP event's name and its `data.reason` (SHUTDOWN, RESET) or `data.action` (GUEST_PANICKED). */
  event: string;
  eventReason?: string;
}

export interface MonitorEvents {
  power: [MonitorPowerEvent];
  /** The QMP connection ended (QEMU exited, or closed the socket). */
  closed: [];
}

export interface MonitorConnectOptions {
  timeoutMs: number;
  /** While starting QEMU: give up as soon as the process has exited. */
  exited?: () => QemuExit | undefined;
}

export class QemuMonitor extends EventEmitter<MonitorEvents> {
  private readonly logger = new Logger(QemuMonitor.name);
  /** Set by GUEST_PANICKED: QEMU then stops the vCPUs itself, and that STOP is no pause. */
  private panicked = false;

  private constructor(
    private readonly client: QmpClient,
    readonly serverId: string,
  ) {
    super();
    client.on('event', (event) => this.onEvent(event));
    client.once('close', () => this.emit('closed'));
  }

  /** Retries until QEMU's monitor answers, the process exits, or time runs out. */
  static async connect(path: string, serverId: string, options: MonitorConnectOptions): Promise<QemuMonitor> {
    const logger = new Logger(QemuMonitor.name);
    const deadline = Date.now() + options.timeoutMs;
    let lastError: Error | undefined;
    for (;;) {
      const exit = options.exited?.();
      if (exit) throw new Error(`QEMU exited (code ${exit.code}, signal ${exit.signal}) before its monitor answered`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`QMP did not answer within ${options.timeoutMs} ms: ${lastError?.message}`);
      try {
        const client = await QmpClient.connect(path, {
          timeoutMs: Math.min(remaining, 5_000),
          commandTimeoutMs: 10_000,
          trace: (direction, line) => logger.debug(`qmp ${serverId} ${direction} ${line}`),
        });
        return new QemuMonitor(client, serverId);
      } catch (error) {
        lastError = error as Error;
        // QEMU creates its QMP socket a few ms into its start: poll often, it is a cheap connect().
        await sleep(10);
      }
    }
  }

  get isConnected(): boolean {
    return this.client.isConnected;
  }

  queryStatus(timeoutMs = 5_000): Promise<QmpStatus> {
    return this.client.queryStatus({ timeoutMs });
  }

  /** Runs one QMP command (system_powerdown, stop, cont, migrate, ...) and resolves with its return. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<T> {
    return this.client.execute<T>(command, args, { timeoutMs });
  }

  /** Asks QEMU to exit. QEMU may close the socket before it answers: that counts as success. */
  async quit(timeoutMs = 2_000): Promise<void> {
    try {
      await this.client.execute('quit', undefined, { timeoutMs });
    } catch (error) {
      this.logger.debug(`quit ${this.serverId}: ${(error as Error).message}`);
    }
  }

  /**
   * Watches for the QMP event `name` that `match` accepts (DEVICE_DELETED of one device). Start
   * watching before the command that causes it; `arrived` is false after `timeoutMs` or a close.
   */
  watchEvent(name: string, match: (data: Record<string, unknown>) => boolean, timeoutMs: number): { arrived: Promise<boolean>; cancel: () => void } {
    let finish: (seen: boolean) => void = () => undefined;
    const arrived = new Promise<boolean>((resolve) => (finish = resolve));
    const onEvent = (event: QmpEvent) => {
      if (event.event === name && match((event.data ?? {}) as Record<string, unknown>)) done(true);
    };
    const onClose = () => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    const done = (seen: boolean) => {
      clearTimeout(timer);
      this.client.off('event', onEvent);
      this.client.off('close', onClose);
      finish(seen);
    };
    this.client.on('event', onEvent);
    this.client.once('close', onClose);
    return { arrived, cancel: () => done(false) };
  }

  close(): void {
    this.client.close();
  }

  private onEvent(event: QmpEvent): void {
    const state = STATE_OF_EVENT[event.event];
    if (!state) return;
    if (event.event === 'GUEST_PANICKED') this.panicked = true;
    else if (event.event === 'STOP' && this.panicked) return;
    else if (event.event === 'RESUME' || event.event === 'RESET') this.panicked = false;
    const detail = typeof event.data?.reason === 'string' ? event.data.reason : undefined;
    const action = typeof event.data?.action === 'string' ? event.data.action : undefined;
    this.emit('power', {
      ...state,
      reason: `${event.event}${detail ? `:${detail}` : ''}`,
      event: event.event,
      ...((detail ?? action) ? { eventReason: detail ?? action } : {}),
    });
  }
}
