/**
 * The host's security-group firewall: compiles every port of the host into one ruleset and loads
 * it in ONE `nft -f -` transaction that deletes and recreates our tables. nft applies a file as a
 * single netlink batch: if any line fails, nothing changes and the previous ruleset keeps
 * filtering (fail closed, never a moment without rules). Calls are serialised, so the last
 * apply is the one that stays. Ports with invalid specs are blocked and reported, never thrown.
 */
import { Logger } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { enableBridgeNetfilter } from './bridge-netfilter';
import { FirewallDrift, FirewallListing, findDrift, parseListing } from './firewall-leaks';
import { PortFirewallOutcome, PortFirewallSpec } from './firewall-spec';
import { CompiledRuleset, compileRuleset, DEFAULT_TABLE, resetTables, validateTableName } from './nft-ruleset';
import { NftRunOptions, runNft, validateNetns } from './nft-runner';

export interface NftFirewallOptions extends NftRunOptions {
  /** Our table name in both families; default `nubo_sg`. */
  table?: string;
}

export interface FirewallApplyResult {
  /** One per spec, in the caller's order: filtered, open, blocked or unfilterable. */
  outcomes: PortFirewallOutcome[];
  chains: CompiledRuleset['chains'];
  /** The ruleset loaded (for logs at debug level and golden tests). */
  text: string;
  /** Time spent in `nft -f` (the compile is not included). */
  loadMs: number;
}

export class NftFirewall {
  private readonly logger = new Logger(NftFirewall.name);
  private readonly table: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: NftFirewallOptions = {}) {
    this.table = validateTableName(options.table ?? DEFAULT_TABLE);
    if (options.netns !== undefined) validateNetns(options.netns);
  }

  /** Turns on br_netfilter's hand-over to the inet family (once, at agent start). */
  prepareHost(): Promise<void> {
    return enableBridgeNetfilter({ netns: this.options.netns });
  }

  compile(specs: PortFirewallSpec[]): CompiledRuleset {
    return compileRuleset(specs, { table: this.table });
  }

  /**
   * Makes the kernel filter exactly these ports (every port of the host: ports left out lose
   * their chains). Rejects NftCommandError when nft refuses the ruleset; then the previous
   * ruleset is still in place.
   */
  apply(specs: PortFirewallSpec[]): Promise<FirewallApplyResult> {
    return this.serialised(async () => {
      const compiled = this.compile(specs);
      for (const outcome of compiled.outcomes) {
        if (outcome.status === 'blocked' || outcome.status === 'unfilterable') {
          this.logger.warn(`Port ${outcome.portId} (${outcome.tap}) is ${outcome.status}: ${outcome.error?.message}`);
        }
      }
      const started = performance.now();
      await this.loadText(compiled.text);
      return { outcomes: compiled.outcomes, chains: compiled.chains, text: compiled.text, loadMs: performance.now() - started };
    });
  }

  /** Loads a ruleset text as one transaction (all or nothing). */
  load(text: string): Promise<void> {
    return this.serialised(() => this.loadText(text));
  }

  /** Removes our tables (no port left on the host); idempotent. */
  clear(): Promise<void> {
    return this.serialised(() => this.loadText(`${resetTables(this.table)}\n`));
  }

  /** Our tables and chains as the kernel holds them. */
  async listing(): Promise<FirewallListing> {
    return parseListing(await runNft(['-j', 'list', 'ruleset'], undefined, this.options), this.table);
  }

  /**
   * Leftovers and gaps against the ports that remain: with no ports, any table of ours is a leak;
   * otherwise chains of ports that are gone are.
   */
  async drift(remaining: PortFirewallSpec[] = []): Promise<FirewallDrift> {
    return findDrift(await this.listing(), this.compile(remaining).chains);
  }

  private async loadText(text: string): Promise<void> {
    await runNft(['-f', '-'], text, this.options);
  }

  private serialised<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
