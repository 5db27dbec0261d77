/**
 * Named counters (DESIGN rule 6: the receive loop never throws; it drops, counts, logs).
 * A counter is identified by a name and optional labels (e.g. `rx_drop{reason="bad_icv"}`),
 * later exported as Prometheus metrics by control/.
 */
export class Counters {
  private readonly values = new Map<string, bigint>();

  inc(name: string, by = 1n): void {
    this.values.set(name, (this.values.get(name) ?? 0n) + by);
  }

  /** Increment `name{label="value"}`. */
  incLabeled(name: string, label: string, value: string, by = 1n): void {
    this.inc(`${name}{${label}="${value}"}`, by);
  }

  get(name: string): bigint {
    return this.values.get(name) ?? 0n;
  }

  snapshot(): Record<string, bigint> {
    return Object.fromEntries([...this.values.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
}
