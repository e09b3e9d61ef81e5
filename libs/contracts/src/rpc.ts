/**
 * A typed request/reply contract. The phantom fields tie a request type to its reply type so that
 * caller and handler cannot drift; `version` changes when a change is not backward compatible.
 */
export interface RpcContract<Req, Res> {
  readonly op: string;
  readonly version: number;
  readonly timeoutMs: number;
  readonly __req?: Req;
  readonly __res?: Res;
}

export type RequestOf<C> = C extends RpcContract<infer Req, unknown> ? Req : never;
export type ReplyOf<C> = C extends RpcContract<unknown, infer Res> ? Res : never;

export function rpc<Req, Res>(op: string, options: { timeoutMs: number; version?: number }): RpcContract<Req, Res> {
  return { op, version: options.version ?? 1, timeoutMs: options.timeoutMs };
}

/** A typed event contract: a subject pattern and its payload. */
export interface EventContract<P> {
  readonly name: string;
  readonly __payload?: P;
}
export type PayloadOf<E> = E extends EventContract<infer P> ? P : never;
export function event<P>(name: string): EventContract<P> {
  return { name };
}

/** Header that carries the request id of the API call (or job) that caused a message. */
export const REQUEST_ID_HEADER = 'x-openstack-request-id';

/**
 * Every command to an agent carries these, so that a replayed or stale message (core NATS
 * redelivers buffered messages after a reconnect; BullMQ re-runs stalled jobs) does no harm.
 */
export interface AgentCommand {
  /** Id of the operation (a job id); replays of one operation are recognised by it. */
  opId: string;
  /** Epoch milliseconds after which the agent refuses the command as stale. */
  deadline: number;
  /**
   * The host's lease epoch (fencing token, host-lease.contract.ts) the sender knows. An agent
   * refuses a command whose epoch is not the one it holds. Optional (additive): callers without
   * database access omit it and get the lease check only (a fenced agent refuses everything).
   */
  epoch?: number;
}
