/**
 * One run at a time of a task that reads everything afresh: a call while it runs gets one more
 * run after it, shared by every caller meanwhile (so they all see their change applied).
 */
export class CoalescedRuns {
  private running?: Promise<void>;
  private again?: Promise<void>;

  constructor(private readonly task: () => Promise<void>) {}

  run(): Promise<void> {
    if (!this.running) {
      this.running = this.task().finally(() => (this.running = undefined));
      return this.running;
    }
    this.again ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.again = undefined;
        return this.run();
      });
    return this.again;
  }
}
