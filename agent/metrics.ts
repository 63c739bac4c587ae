// One counting helper for every component: what it received, emitted, dropped and failed on
// (the four numbers health reports and tests read), plus named extra counters.

export interface ComponentCounts {
  received: number;
  emitted: number;
  dropped: number;
  errors: number;
  /** Component-specific counters (`evicted`, `rotations`, `gzip_errors`, ...). */
  extra: Record<string, number>;
}

export class Counters {
  received = 0;
  emitted = 0;
  dropped = 0;
  errors = 0;
  private readonly extra = new Map<string, number>();

  constructor(readonly component: string) {}

  /** Adds `n` to a named extra counter. */
  add(name: string, n = 1): void {
    this.extra.set(name, (this.extra.get(name) ?? 0) + n);
  }

  get(name: string): number {
    return this.extra.get(name) ?? 0;
  }

  snapshot(): ComponentCounts {
    return {
      received: this.received,
      emitted: this.emitted,
      dropped: this.dropped,
      errors: this.errors,
      extra: Object.fromEntries(this.extra),
    };
  }
}

/** All components' counters, keyed by component name, for health and `--stats` output. */
export class MetricsRegistry {
  private readonly all = new Map<string, Counters>();

  counters(component: string): Counters {
    let c = this.all.get(component);
    if (!c) {
      c = new Counters(component);
      this.all.set(component, c);
    }
    return c;
  }

  snapshot(): Record<string, ComponentCounts> {
    const out: Record<string, ComponentCounts> = {};
    for (const [name, c] of this.all) out[name] = c.snapshot();
    return out;
  }
}
