/**
 * Which Nova server action may run in which state: the action's instance-action name, the task
 * state it sets, and the vm_states it is allowed from (Nova's check_instance_state). Also the
 * bodies of the two actions that are not power actions: os-getConsoleOutput (answered at once,
 * no task state) and createImage (a snapshot job).
 */
import { ServerAction, TaskState, ValidationError, VmState } from '@nubo/contracts';
import { invalid, onlyKeys, requireObject, requireString } from '../common/validation';

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

/** The one action a body names ({"os-stop": null} -> os-stop). */
export function actionName(body: unknown): string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ValidationError('Malformed request body: an action object is required', 'body');
  }
  const keys = Object.keys(body);
  if (keys.length !== 1) throw new ValidationError('Malformed request body: exactly one action is required', 'body');
  return keys[0];
}

/** Parses an action body ({"os-stop": null}, {"reboot": {"type": "HARD"}}, ...). */
export function parseAction(body: unknown): ActionRule {
  const name = actionName(body);
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

export const CONSOLE_OUTPUT_ACTION = 'os-getConsoleOutput';
export const CREATE_IMAGE_ACTION = 'createImage';

/** Nova's createImage runs from these vm_states (compute API snapshot's check_instance_state). */
export const SNAPSHOT_FROM: VmState[] = [VmState.Active, VmState.Stopped, VmState.Paused, VmState.Suspended];

/**
 * {"os-getConsoleOutput": {"length": N}}: N lines from the end; -1, null or absent: all. Nova takes
 * an integer or a string of digits.
 */
export function parseConsoleOutput(body: Record<string, unknown>): { lines?: number } {
  const action = requireObject(body[CONSOLE_OUTPUT_ACTION], CONSOLE_OUTPUT_ACTION);
  onlyKeys(action, CONSOLE_OUTPUT_ACTION, ['length']);
  const raw = action.length;
  if (raw === undefined || raw === null) return {};
  const n = typeof raw === 'string' && /^-?[0-9]+$/.test(raw) ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) invalid('length', raw, `${JSON.stringify(raw)} is not of type 'integer', 'string', 'null'`);
  if ((n as number) < -1) invalid('length', raw, `${raw} is less than the minimum of -1`);
  return n === -1 ? {} : { lines: n as number };
}

/** Glance attributes a snapshot's metadata cannot set: they are no additional properties. */
const NOT_PROPERTIES = new Set([
  'name', 'visibility', 'protected', 'os_hidden', 'min_disk', 'min_ram', 'disk_format', 'container_format', 'tags', 'owner',
  'id', 'created_at', 'updated_at', 'status', 'checksum', 'os_hash_algo', 'os_hash_value', 'size', 'virtual_size',
  'direct_url', 'self', 'file', 'schema', 'location', 'locations', 'deleted', 'deleted_at',
]);
const METADATA_KEY = /^[a-zA-Z0-9_:. -]{1,255}$/;

export interface CreateImageRequest {
  name: string;
  metadata: Record<string, string>;
}

/** {"createImage": {"name": "...", "metadata": {...}}}, checked like Nova's create_image schema. */
export function parseCreateImage(body: Record<string, unknown>): CreateImageRequest {
  const action = requireObject(body[CREATE_IMAGE_ACTION], CREATE_IMAGE_ACTION);
  onlyKeys(action, CREATE_IMAGE_ACTION, ['name', 'metadata']);
  const name = requireString(action, 'name', { min: 1, max: 255, trimmed: true });
  const entries: Array<[string, string]> = [];
  if (action.metadata !== undefined) {
    const given = requireObject(action.metadata, 'metadata');
    for (const [key, value] of Object.entries(given)) {
      if (!METADATA_KEY.test(key)) invalid('metadata', given, `Additional properties are not allowed ('${key}' was unexpected)`);
      if (typeof value !== 'string') invalid('metadata', given, `${JSON.stringify(value)} is not of type 'string'`);
      if ((value as string).length > 255) invalid('metadata', given, `${JSON.stringify(value)} is too long`);
      if (NOT_PROPERTIES.has(key) || key.startsWith('os_glance')) invalid('metadata', given, `'${key}' is an image attribute, not a property`);
      entries.push([key, value as string]);
    }
  }
  // fromEntries defines own properties: even a key named __proto__ stays a plain key.
  return { name, metadata: Object.fromEntries(entries) };
}
