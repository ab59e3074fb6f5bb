import type { Unsubscribe } from './cluster-state.js';

/**
 * Listeners of one kind of event. A listener that throws is reported and the others still run:
 * one faulty cache must not stop a revocation from reaching the rest.
 */
export class Listeners<T> {
  readonly #fns = new Set<{ fn: (value: T) => void }>();

  constructor(private readonly onError: (err: unknown) => void) {}

  get size(): number {
    return this.#fns.size;
  }

  add(fn: (value: T) => void): Unsubscribe {
    // A wrapper per registration, so that adding the same function twice gives two listeners.
    const entry = { fn };
    this.#fns.add(entry);
    return () => {
      this.#fns.delete(entry);
    };
  }

  emit(value: T): void {
    for (const { fn } of [...this.#fns]) {
      try {
        fn(value);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}

/** Listeners grouped by a name (a set, a channel); a name without listeners is forgotten. */
export class NamedListeners<T> {
  readonly #byName = new Map<string, Listeners<T>>();

  constructor(private readonly onError: (err: unknown) => void) {}

  count(name: string): number {
    return this.#byName.get(name)?.size ?? 0;
  }

  names(): string[] {
    return [...this.#byName.keys()];
  }

  add(name: string, fn: (value: T) => void): Unsubscribe {
    let listeners = this.#byName.get(name);
    if (listeners === undefined) {
      listeners = new Listeners<T>(this.onError);
      this.#byName.set(name, listeners);
    }
    const remove = listeners.add(fn);
    const group = listeners;
    return () => {
      remove();
      if (group.size === 0 && this.#byName.get(name) === group) this.#byName.delete(name);
    };
  }

  emit(name: string, value: T): void {
    this.#byName.get(name)?.emit(value);
  }
}
