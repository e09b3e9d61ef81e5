/**
 * The fake driver's memory balloons: the same checks as the QEMU driver's, and a guest whose
 * balloon driver is perfect (`actual` is the target at once, the full RAM until one is set).
 */
import { BalloonInfo, ConflictError, InstanceSpec, NotFoundError, PowerState } from '@nubo/contracts';
import { BalloonTargets, validateBalloonTarget } from '../balloon-target';

const MiB = 2 ** 20;

export interface FakeBalloonGuest {
  spec: InstanceSpec;
  pid: number;
  powerState: PowerState;
}

export class FakeBalloons {
  private readonly targets = new BalloonTargets();

  /** `current` finds a tracked instance of the driver, or undefined. */
  constructor(private readonly current: (serverId: string) => FakeBalloonGuest | undefined) {}

  info(serverId: string): BalloonInfo {
    const guest = this.guestIn(serverId, 'balloonInfo', [PowerState.Running, PowerState.Paused]);
    return this.view(serverId, guest);
  }

  set(serverId: string, targetBytes: number): BalloonInfo {
    const found = this.current(serverId);
    if (!found) throw new NotFoundError(`server ${serverId} is not on this host`, { serverId });
    const bytes = validateBalloonTarget(targetBytes, found.spec.ramMb);
    const guest = this.guestIn(serverId, 'balloonSet', [PowerState.Running]);
    this.targets.set(serverId, guest.pid, bytes, (id) => this.current(id)?.pid);
    return this.view(serverId, guest);
  }

  private view(serverId: string, guest: FakeBalloonGuest): BalloonInfo {
    const maxBytes = guest.spec.ramMb * MiB;
    const target = this.targets.get(serverId, guest.pid);
    return target === undefined ? { actualBytes: maxBytes, maxBytes } : { actualBytes: target, maxBytes, targetBytes: target };
  }

  private guestIn(serverId: string, op: string, states: PowerState[]): FakeBalloonGuest {
    const guest = this.current(serverId);
    if (!guest) throw new NotFoundError(`server ${serverId} is not on this host`, { serverId });
    if (!states.includes(guest.powerState)) {
      throw new ConflictError(`cannot ${op} server ${serverId} while it is ${guest.powerState}`, { serverId, operation: op, powerState: guest.powerState });
    }
    return guest;
  }
}
