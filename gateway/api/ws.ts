/**
 * `GET /v1/ws`: a WebSocket session. Each message `{id, query, params?, ...}`
 * (the query body plus an id) gets `{id, ...result, session}` or
 * `{id, error}`; answers may come out of order. `SET SESSION ...` persists
 * for the connection and takes effect for every message sent after it, even
 * one sent before its answer arrived (the gateway applies it on arrival); a
 * `geode-session` header or `?session=` on the upgrade request seeds it. An
 * invalid message is answered `{id, error}` with its id when the id could be
 * read, else `{id: null, error}`.
 */
import type { IncomingMessage } from 'node:http';
import type { BlockList } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { ErrorCode, GeodeError } from '../../shared/protocol/errors.js';
import type { GatewayCore } from '../core.js';
import type { QueryBody } from '../query-service.js';
import { clientAddress } from '../routing/geo.js';
import { applySessionSetting } from '../session/settings.js';
import { laterPosition } from '../session/position.js';
import { SESSION_HEADER, sessionPosition, withPosition } from '../session/token.js';
import type { Session } from '../session/token.js';
import { toGeodeError } from './errors.js';

export const WS_PATH = '/v1/ws';
const BODY_KEYS = new Set(['id', 'query', 'params', 'timeout_ms', 'request_id', 'consistency', 'max_lag_ms', 'after_index', 'after_epoch']);
const CONSISTENCY = new Set(['linearizable', 'leader', 'bounded', 'any']);

/** A message's JSON object and its id (null when the message has none or is not an object). */
function readMessage(data: string): { id: unknown; m: Record<string, unknown> } {
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    throw new GeodeError(ErrorCode.BAD_REQUEST, 'message is not valid JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new GeodeError(ErrorCode.BAD_REQUEST, 'message must be a JSON object {id, query, params?}');
  const m = raw as Record<string, unknown>;
  return { id: m['id'] ?? null, m };
}

/** Validates one message by hand (no fastify here); names the offending field. */
function parseBody(m: Record<string, unknown>): QueryBody {
  const bad = (field: string, expected: string): GeodeError => new GeodeError(ErrorCode.BAD_REQUEST, `message.${field}: ${expected}`);
  for (const key of Object.keys(m)) if (!BODY_KEYS.has(key)) throw bad(key, 'unknown field');
  if (typeof m['query'] !== 'string' || m['query'].length === 0) throw bad('query', 'expected a non-empty string');
  const body: QueryBody = { query: m['query'] };
  const params = m['params'];
  if (params !== undefined) {
    if (typeof params !== 'object' || params === null || Array.isArray(params)) throw bad('params', 'expected an object');
    body.params = params as Record<string, unknown>;
  }
  const int = (key: 'timeout_ms' | 'max_lag_ms' | 'after_index' | 'after_epoch', min: number): void => {
    const v = m[key];
    if (v === undefined) return;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw bad(key, `expected an integer >= ${min}`);
    body[key] = v;
  };
  int('timeout_ms', 1);
  int('max_lag_ms', 0);
  int('after_index', 0);
  // The region epoch of after_index (regional deployments; absent: 1).
  int('after_epoch', 1);
  if (m['request_id'] !== undefined) {
    if (typeof m['request_id'] !== 'string' || m['request_id'].length === 0 || m['request_id'].length > 200) throw bad('request_id', 'expected a string of 1..200 characters');
    body.request_id = m['request_id'];
  }
  if (m['consistency'] !== undefined) {
    if (typeof m['consistency'] !== 'string' || !CONSISTENCY.has(m['consistency'])) throw bad('consistency', 'expected linearizable | leader | bounded | any');
    body.consistency = m['consistency'] as QueryBody['consistency'] & string;
  }
  return body;
}

export class GatewaySockets {
  private readonly wss: WebSocketServer;

  constructor(
    private readonly core: GatewayCore,
    private readonly trusted: BlockList,
  ) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: core.config.bodyLimit });
  }

  /** Takes an upgrade request for /v1/ws; false for other paths. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(request.url ?? '/', 'http://gateway');
    if (url.pathname !== WS_PATH) return false;
    let session: Session;
    try {
      const header = request.headers[SESSION_HEADER];
      const token = (Array.isArray(header) ? header[0] : header) ?? url.searchParams.get('session') ?? undefined;
      session = this.core.sessionFrom(token);
    } catch (error) {
      const geode = toGeodeError(error);
      const body = JSON.stringify(geode.toJSON());
      socket.end(`HTTP/1.1 ${geode.status} Unauthorized\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      return true;
    }
    const address = clientAddress(request.socket.remoteAddress, request.headers['x-forwarded-for'], this.trusted);
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      ws.on('error', () => ws.terminate());
      ws.on('message', (data) => {
        let id: unknown = null;
        let body: QueryBody;
        try {
          const message = readMessage(String(data));
          id = message.id;
          body = parseBody(message.m);
        } catch (error) {
          ws.send(JSON.stringify({ id, ...toGeodeError(error).toJSON() }));
          return;
        }
        const sent = session;
        // SET SESSION takes effect now, for the messages behind it; core.run answers it (or its error) as usual.
        try {
          const setting = this.core.service.classify(body.query).setting;
          if (setting !== undefined) session = applySessionSetting(session, setting);
        } catch {
          // not a valid statement: core.run reports why
        }
        void this.core.run(body, sent, address).then((answer) => {
          // Settings changed above already; answers only raise the causal position, in whatever order they arrive.
          session = withPosition(session, laterPosition(sessionPosition(session), sessionPosition(answer.session)));
          if (ws.readyState !== ws.OPEN) return;
          const result = JSON.parse(answer.body) as Record<string, unknown>;
          ws.send(JSON.stringify({ id, ...result, session: this.core.codec.encode(session) }));
        });
      });
    });
    return true;
  }

  close(): void {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
  }
}
