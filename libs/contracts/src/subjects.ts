/**
 * NATS subjects. Agents serve `agent.<hostId>.<op>`; services serve `<service>.<op>` in a queue
 * group; events go to `host.<hostId>.heartbeat`, `server.<serverId>.state` and
 * `server.<serverId>.migration`.
 */
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/** Host ids become subject tokens and namespace names: keep them to one safe token. */
export function assertSubjectToken(value: string, what: string): string {
  if (!TOKEN.test(value)) {
    throw new Error(`${what} "${value}" must match ${TOKEN} (it becomes a NATS subject token)`);
  }
  return value;
}

export const subjects = {
  agent: (hostId: string, op: string) => `agent.${assertSubjectToken(hostId, 'host id')}.${op}`,
  service: (service: 'network' | 'image' | 'scheduler', op: string) => `${service}.${op}`,
  heartbeat: (hostId: string) => `host.${assertSubjectToken(hostId, 'host id')}.heartbeat`,
  anyHeartbeat: 'host.*.heartbeat',
  serverState: (serverId: string) => `server.${serverId}.state`,
  anyServerState: 'server.*.state',
  /** A server's live-migration progress (live-migration-events.contract.ts). */
  serverMigration: (serverId: string) => `server.${serverId}.migration`,
  anyServerMigration: 'server.*.migration',
};

export const QUEUE_GROUPS = {
  scheduler: 'nubo-scheduler',
  network: 'nubo-network',
  image: 'nubo-image',
};
