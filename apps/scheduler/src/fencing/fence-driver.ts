/**
 * Fencing: making sure a host runs nothing before its servers start elsewhere. A driver powers
 * the host off (or cuts it off) and confirms it; the failover controller evacuates a host only
 * after `fence` answered `confirmed: true` (or the host's lease expired past the self-fence
 * margin: the agent's own watchdog killed its QEMUs by then).
 */
export interface FenceResult {
  /** The host is known to run no guest now. */
  confirmed: boolean;
  /** What was done and seen, for the host's state history (no secrets). */
  detail: string;
}

export interface FenceDriver {
  readonly name: string;
  /** Powers the host off; idempotent (a host already off confirms again). */
  fence(hostId: string): Promise<FenceResult>;
}

/** No driver configured: nothing is confirmed; only an expired lease lets recovery go on. */
export class NoFenceDriver implements FenceDriver {
  readonly name = 'none';

  async fence(hostId: string): Promise<FenceResult> {
    return { confirmed: false, detail: `no fence driver: ${hostId} is not powered off, recovery waits for its lease to expire` };
  }
}
