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
 * Messages, each `{geode_ack: kind, index, epoch?}`: a worker says `hello` on
 * start and a relaying primary answers `relay` with the highest position so
 * far; `raise` (worker to primary) goes to every other worker as `learn`,
 * which each answers `learned` with its own position; once every other
 * worker that said hello has learned it, the primary tells the raiser
 * `shared`.
 *
 * What is kept is a causal position, (region epoch, index) (session/position.ts):
 * in a deployment of regional groups a promotion starts a new epoch whose
 * indexes count in another region's log, and a higher epoch wins. A
 * single-group deployment stays at epoch 1, where the position is the index.
 * `epoch` is left out of messages at epoch 1 and read as 1 when absent.
 */
import cluster from 'node:cluster';
import { ORIGIN, comparePositions, epochOr1 } from './session/position.js';
import type { Position } from './session/position.js';

type AckKind = 'hello' | 'relay' | 'raise' | 'learn' | 'learned' | 'shared';

interface AckMessage {
  geode_ack: AckKind;
  index: number;
  epoch?: number;
}

function messageOf(kind: AckKind, position: Position): AckMessage {
  return position.epoch > 1 ? { geode_ack: kind, index: position.index, epoch: position.epoch } : { geode_ack: kind, index: position.index };
}

const positionOf = (m: AckMessage): Position => ({ epoch: epochOr1(m.epoch), index: m.index });
const after = (a: Position, b: Position): boolean => comparePositions(a, b) > 0;

const KINDS: ReadonlySet<string> = new Set<AckKind>(['hello', 'relay', 'raise', 'learn', 'learned', 'shared']);

function isAckMessage(message: unknown): message is AckMessage {
  const m = message as Partial<AckMessage> | null;
  return typeof m === 'object' && m !== null && typeof m.geode_ack === 'string' && KINDS.has(m.geode_ack) && typeof m.index === 'number' && (m.epoch === undefined || typeof m.epoch === 'number');
}

/** A worker that waited this long for its siblings answers anyway: a stuck primary must not stall writes. */
const SHARE_TIMEOUT_MS = 1000;

interface Waiter {
  position: Position;
  resolve: () => void;
  timer: NodeJS.Timeout;
}

export class AcknowledgedIndex {
  private position_: Position = ORIGIN;
  /** Every sibling worker is known to have this position. */
  private shared: Position = ORIGIN;
  private relayed = false;
  private waiters: Waiter[] = [];
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

  /** The index of the highest acknowledged position. */
  get value(): number {
    return this.position_.index;
  }

  /** The highest acknowledged position. */
  get position(): Position {
    return this.position_;
  }

  /** Whether a primary relays between this worker and its siblings. */
  get sharedWithSiblings(): boolean {
    return this.relayed;
  }

  /** Raises the position to `position` (an index: at epoch 1); when siblings share it, a promise that resolves once they all know it. */
  raise(position: Position | number): Promise<void> | undefined {
    const at = typeof position === 'number' ? { epoch: 1, index: position } : position;
    if (after(at, this.position_)) this.position_ = at;
    if (!this.relayed || this.send === undefined || !after(at, this.shared)) return undefined;
    this.send(messageOf('raise', at));
    return new Promise((resolve) => {
      const waiter: Waiter = { position: at, resolve, timer: setTimeout(() => this.settle(waiter), SHARE_TIMEOUT_MS) };
      this.waiters.push(waiter);
    });
  }

  close(): void {
    process.off('message', this.onMessage);
    for (const waiter of [...this.waiters]) this.settle(waiter);
  }

  private settle(waiter: Waiter): void {
    clearTimeout(waiter.timer);
    this.waiters = this.waiters.filter((w) => w !== waiter);
    waiter.resolve();
  }

  private receive(message: unknown): void {
    if (!isAckMessage(message) || this.send === undefined) return;
    switch (message.geode_ack) {
      case 'relay':
      case 'learn': {
        this.relayed = true;
        const learned = positionOf(message);
        if (after(learned, this.position_)) this.position_ = learned;
        this.send(messageOf('learned', this.position_));
        break;
      }
      case 'shared': {
        const shared = positionOf(message);
        if (after(shared, this.shared)) this.shared = shared;
        for (const waiter of [...this.waiters]) if (!after(waiter.position, this.shared)) this.settle(waiter);
        break;
      }
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
  let highest: Position = ORIGIN;
  /** Serving workers (said hello), by id: the highest position each has confirmed. */
  const learned = new Map<number, { worker: RelayWorker; position: Position }>();
  let pending: { from: number; position: Position }[] = [];
  const deliver = (): void => {
    pending = pending.filter(({ from, position }) => {
      for (const [id, entry] of learned) if (id !== from && after(position, entry.position)) return true;
      learned.get(from)?.worker.send(messageOf('shared', position));
      return false;
    });
  };
  hub.on('message', (worker, message) => {
    if (!isAckMessage(message)) return;
    const position = positionOf(message);
    switch (message.geode_ack) {
      case 'hello':
        learned.set(worker.id, { worker, position: ORIGIN });
        worker.send(messageOf('relay', highest));
        break;
      case 'raise': {
        const entry = learned.get(worker.id);
        if (entry !== undefined && after(position, entry.position)) entry.position = position;
        if (after(position, highest)) {
          highest = position;
          for (const [id, other] of learned) if (id !== worker.id) other.worker.send(messageOf('learn', highest));
        }
        pending.push({ from: worker.id, position });
        break;
      }
      case 'learned': {
        const entry = learned.get(worker.id);
        if (entry !== undefined && after(position, entry.position)) entry.position = position;
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
