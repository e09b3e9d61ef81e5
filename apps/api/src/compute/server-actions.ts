/**
 * Which Nova server action may run in which state: the action's instance-action name, the task
 * state it sets, and the vm_states it is allowed from (Nova's check_instance_state).
 */
import { ServerAction, TaskState, ValidationError, VmState } from '@nubo/contracts';

export interface ActionRule {
  action: ServerAction;
  task: TaskState;
  from: VmState[];
  rebootType?: 'SOFT' | 'HARD';
}

const RULES: Record<string, ActionRule> = {
  'os-stop': { action: 'stop', task: TaskState.PoweringOff, from: [VmState.Active, VmState.Error] },
  'os-start': { action: 'start', task: TaskState.PoweringOn, from: [VmState.Stopped] },
  pause: { action: 'pause', task: TaskState.Pausing, from: [VmState.Active] },
  unpause: { action: 'unpause', task: TaskState.Unpausing, from: [VmState.Paused] },
  suspend: { action: 'suspend', task: TaskState.Suspending, from: [VmState.Active] },
  resume: { action: 'resume', task: TaskState.Resuming, from: [VmState.Suspended] },
};

const REBOOT: Record<'SOFT' | 'HARD', ActionRule> = {
  SOFT: { action: 'reboot', task: TaskState.Rebooting, from: [VmState.Active], rebootType: 'SOFT' },
  HARD: {
    action: 'reboot',
    task: TaskState.RebootingHard,
    from: [VmState.Active, VmState.Stopped, VmState.Paused, VmState.Suspended, VmState.Error],
    rebootType: 'HARD',
  },
};

/** Parses an action body ({"os-stop": null}, {"reboot": {"type": "HARD"}}, ...). */
export function parseAction(body: unknown): ActionRule {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ValidationError('Malformed request body: an action object is required', 'body');
  }
  const keys = Object.keys(body);
  if (keys.length !== 1) throw new ValidationError('Malformed request body: exactly one action is required', 'body');
  const [name] = keys;
  if (name === 'reboot') {
    const reboot = (body as Record<string, unknown>).reboot as { type?: unknown } | null;
    const type = reboot && typeof reboot === 'object' ? reboot.type : undefined;
    if (type !== 'SOFT' && type !== 'HARD') {
      throw new ValidationError(
        `Invalid input for field/attribute type. Value: ${JSON.stringify(type ?? null)}. 'type' must be one of 'SOFT', 'HARD'`,
        'type',
      );
    }
    return REBOOT[type];
  }
  const rule = RULES[name];
  if (!rule) throw new ValidationError(`There is no such action: ${name}`, 'action');
  return rule;
}
