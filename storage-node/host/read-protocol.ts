/**
 * What crosses between the main thread and a read worker (api/read-worker.ts):
 * the worker's start-up data, a read handed to it, and the messages of its
 * read lane (api/read-lane.ts). Types only, declared here so the host never
 * imports the API layer.
 */
import type { MessagePort } from 'node:worker_threads';
import type { QueryRequest } from '../../shared/protocol/query.js';

export interface ReadWorkerData {
  graphPath: string;
  /** Per-statement memory budget in bytes. */
  memoryBudget: number;
  /** Where this worker posts the statement it runs (read-slot.ts). */
  slot: SharedArrayBuffer;
  /** A read lane to serve (absent: reads come only from the main thread). */
  lane?: { host: string; view: SharedArrayBuffer; channel: MessagePort; node: string };
}

export interface ReadCall {
  /** The pool's id for this read (positive), posted in the slot while it runs. */
  id: number;
  query: string;
  params: Record<string, unknown>;
  now: number;
  seed: string;
  deadline: number;
  /** Rows of the `system.*` views for this call, as JSON (the node fills them from its cluster view). */
  views?: Record<string, Record<string, unknown>[]>;
}

/** One answer of the query stream: the HTTP status and the JSON body the route would send. */
export interface LaneReply {
  status: number;
  body: string;
}

/** What crosses from a lane to the main thread. */
export type LaneToMain =
  | { kind: 'listening'; port: number }
  | { kind: 'forward'; calls: { id: number; body: QueryRequest }[] }
  | { kind: 'metrics'; counts: [outcome: string, n: number][]; seconds: number[] }
  | { kind: 'error'; message: string };

/** What crosses from the main thread to a lane. */
export type MainToLane = { kind: 'answers'; answers: ({ id: number } & LaneReply)[] } | { kind: 'limits'; bodyLimit: number; defaultTimeoutMs: number };
