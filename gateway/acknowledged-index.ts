/**
 * The highest log index of a write this gateway acknowledged: what every read
 * waits for by default (read_your_writes).
 *
 * One gateway may be several processes: `geode gateway --workers N` forks
 * them with node:cluster, sharing one listening socket, and a client's next
 * request may reach any of them. So a worker answers a write only once every
 * sibling knows its index; the primary relays (`relayAcknowledgedIndexes`,
 * called where the workers are forked). The cost on a write: two IPC round
 * trips through the primary, small beside the write's own replication. A worker whose
 * primary does not relay (it never answers `hello`) keeps its own index, as a
 * single process does.
 *
 * Messages, each `{geode_ack: kind, index}`: a worker says `hello` on start
 * and a relaying primary answers `relay` with the highest index so far;
 * `raise` (worker to primary) goes to every other worker as `learn`, which
 * each answers `learned` with its own index; once every other worker that
 * said hello has learned it, the primary tells the raiser `shared`.
 */
import cluster from 'node:cluster';

type AckKind = 'hello' | 'relay' | 'raise' | 'learn' | 'learned' | 'shared';

interface AckMessage {
  geode_ack: AckKind;
  index: number;
}

const KINDS: ReadonlySet<string> = new Set<AckKind>(['hello', 'relay', 'raise', 'learn', 'learned', 'shared']);

function isAckMessage(message: unknown): message is AckMessage {
  const m = message as Partial<AckMessage> | null;
  return typeof m === 'object' && m !== null && typeof m.geode_ack === 'string' && KINDS.has(m.geode_ack) && typeof m.index === 'number';
}

/** A worker that waited this long for its siblings answers anyway: a stuck primary must not stall writes. */
const SHARE_TIMEOUT_MS = 1000;

export class AcknowledgedIndex {
  private value_ = 0;
  /** Every sibling worker is known to have this index. */
  private shared = 0;
  private relayed = false;
  private waiters: { index: number; resolve: () => void; timer: NodeJS.Timeout }[] = [];
  private readonly send: ((message: AckMessage) => void) | undefined;
  private readonly onMessage = (message: unknown): void => this.receive(message);

  /** In a cluster worker, shared with its siblings through the primary; elsewhere, this process's own. */
  constructor() {
    const send = process.send?.bind(process);
    if (!cluster.isWorker || send === undefined) return;
    this.send = (message) => {
      send(message);
    };
    process.on('message', this.onMessage);
    this.send({ geode_ack: 'hello', index: 0 });
  }

  get value(): number {
    return this.value_;
  }

  /** Whether a primary relays between this worker and its siblings. */
  get sharedWithSiblings(): boolean {
    return this.relayed;
  }

  /** Raises the index to `index`; when siblings share it, a promise that resolves once they all know it. */
  raise(index: number): Promise<void> | undefined {
    if (index > this.value_) this.value_ = index;
    if (!this.relayed || this.send === undefined || index <= this.shared) return undefined;
    this.send({ geode_ack: 'raise', index });
    return new Promise((resolve) => {
      const waiter = { index, resolve, timer: setTimeout(() => this.settle(waiter), SHARE_TIMEOUT_MS) };
      this.waiters.push(waiter);
    });
  }

  close(): void {
    process.off('message', this.onMessage);
    for (const waiter of [...this.waiters]) this.settle(waiter);
  }

  private settle(waiter: { resolve: () => void; timer: NodeJS.Timeout }): void {
    clearTimeout(waiter.timer);
    this.waiters = this.waiters.filter((w) => w !== waiter);
    waiter.resolve();
  }

  private receive(message: unknown): void {
    if (!isAckMessage(message) || this.send === undefined) return;
    switch (message.geode_ack) {
      case 'relay':
      case 'learn':
        this.relayed = true;
        if (message.index > this.value_) this.value_ = message.index;
        this.send({ geode_ack: 'learned', index: this.value_ });
        break;
      case 'shared':
        if (message.index > this.shared) this.shared = message.index;
        for (const waiter of [...this.waiters]) if (waiter.index <= this.shared) this.settle(waiter);
        break;
    }
  }
}

/** What the relay needs of node:cluster (its primary side). */
export interface WorkerHub {
  on(event: 'message', listener: (worker: RelayWorker, message: unknown) => void): unknown;
  on(event: 'exit', listener: (worker: RelayWorker) => void): unknown;
}

export interface RelayWorker {
  readonly id: number;
  send(message: AckMessage): boolean;
}

/**
 * In the primary of a multi-worker gateway: relays acknowledged write indexes between the workers,
 * so that each answers a write only once the others will make reads wait for it. Call once, before
 * forking (`relayAcknowledgedIndexes(cluster)`).
 */
export function relayAcknowledgedIndexes(hub: WorkerHub): void {
  let highest = 0;
  /** Serving workers (said hello), by id: the highest index each has confirmed. */
  const learned = new Map<number, { worker: RelayWorker; index: number }>();
  let pending: { from: number; index: number }[] = [];
  const deliver = (): void => {
    pending = pending.filter(({ from, index }) => {
      for (const [id, entry] of learned) if (id !== from && entry.index < index) return true;
      learned.get(from)?.worker.send({ geode_ack: 'shared', index });
      return false;
    });
  };
  hub.on('message', (worker, message) => {
    if (!isAckMessage(message)) return;
    switch (message.geode_ack) {
      case 'hello':
        learned.set(worker.id, { worker, index: 0 });
        worker.send({ geode_ack: 'relay', index: highest });
        break;
      case 'raise': {
        const entry = learned.get(worker.id);
        if (entry !== undefined && message.index > entry.index) entry.index = message.index;
        if (message.index > highest) {
          highest = message.index;
          for (const [id, other] of learned) if (id !== worker.id) other.worker.send({ geode_ack: 'learn', index: highest });
        }
        pending.push({ from: worker.id, index: message.index });
        break;
      }
      case 'learned': {
        const entry = learned.get(worker.id);
        if (entry !== undefined && message.index > entry.index) entry.index = message.index;
        break;
      }
      default:
        return;
    }
    deliver();
  });
  hub.on('exit', (worker) => {
    learned.delete(worker.id);
    deliver();
  });
}
