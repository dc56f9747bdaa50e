/**
 * `POST /v1/query`, the gateway's hottest path, served on Node's own request
 * and response objects instead of fastify's route pipeline (router, hooks,
 * content-type parser, validator compiler, reply object). Each of those
 * costs little, but a proxy's whole budget is small: on the point-read
 * benchmark they were about a third of the gateway's CPU per request.
 *
 * The gateway's server hands every `POST /v1/query` here
 * (`isQueryRequest`); fastify's route for the same path serves `inject()`
 * (tests) through the same `serve`, so there is one implementation. It keeps
 * the route's contract exactly: the body must be `application/json` (400
 * BAD_REQUEST otherwise), at most `body_limit` bytes (413
 * PAYLOAD_TOO_LARGE, and the connection is closed rather than read to the
 * end), a JSON object (400 "not valid JSON" / "empty") matching the shared
 * QueryRequest schema (400 naming the field). Unlike fastify's JSON parser
 * we do not scan for `__proto__` keys: the schema refuses unknown top-level
 * fields, and nothing in the gateway merges `params` into another object.
 * Requests on this route are not access-logged (the gateway's request
 * metrics count every one); failures the gateway causes are logged.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BlockList } from 'node:net';
import { ErrorCode, GeodeError } from '../../shared/protocol/errors.js';
import { queryRequestProblem } from '../../shared/protocol/query.js';
import type { GatewayAnswer, GatewayCore } from '../core.js';
import type { QueryBody } from '../query-service.js';
import { clientAddress } from '../routing/geo.js';
import { SESSION_HEADER } from '../session/token.js';
import { toGeodeError } from './errors.js';
import { errorHeaders } from '../../shared/protocol/framework-errors.js';

export const QUERY_PATH = '/v1/query';

/** Whether the gateway's server should hand this request to QueryEndpoint. */
export function isQueryRequest(request: IncomingMessage): boolean {
  const url = request.url;
  return request.method === 'POST' && url !== undefined && (url === QUERY_PATH || url.startsWith(`${QUERY_PATH}?`));
}

/** `application/json`, optionally with parameters (`; charset=utf-8`), in any letter case. */
function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semicolon = contentType.indexOf(';');
  const type = (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim();
  return type.length === 16 && type.toLowerCase() === 'application/json';
}

export interface QueryEndpointOptions {
  core: GatewayCore;
  trusted: BlockList;
  bodyLimit: number;
  /** Called with failures of the gateway itself (never with a client's bad input). */
  onInternalError?: (error: unknown) => void;
}

export class QueryEndpoint {
  private closing = false;

  constructor(private readonly options: QueryEndpointOptions) {}

  /** From now on every request answers 503 and closes its connection (the server is shutting down). */
  close(): void {
    this.closing = true;
  }

  /** Reads the body of a request `isQueryRequest` accepted, and answers it. */
  serve(request: IncomingMessage, response: ServerResponse): void {
    if (this.closing) {
      response.shouldKeepAlive = false;
      this.fail(response, new GeodeError(ErrorCode.OVERLOADED, 'the gateway is shutting down', { detail: 'ShuttingDown' }));
      request.resume();
      return;
    }
    if (!isJson(request.headers['content-type'])) {
      this.fail(response, new GeodeError(ErrorCode.BAD_REQUEST, 'unsupported content type; send application/json'));
      request.resume();
      return;
    }
    const limit = this.options.bodyLimit;
    const declared = request.headers['content-length'];
    if (declared !== undefined && Number(declared) > limit) {
      this.refuseTooLarge(request, response);
      return;
    }
    let first: Buffer | undefined;
    let more: Buffer[] | undefined;
    let size = 0;
    let refused = false;
    request.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > limit) {
        refused = true;
        this.refuseTooLarge(request, response);
        return;
      }
      if (first === undefined) first = chunk;
      else (more ??= [first]).push(chunk);
    });
    request.on('end', () => {
      if (refused) return;
      const text = more !== undefined ? Buffer.concat(more, size).toString('utf8') : (first?.toString('utf8') ?? '');
      this.answer(text, request, response);
    });
    // A client that goes away mid-body gets no answer; the socket is already gone.
    request.on('error', () => undefined);
  }

  private answer(text: string, request: IncomingMessage, response: ServerResponse): void {
    if (text.length === 0) {
      this.fail(response, new GeodeError(ErrorCode.BAD_REQUEST, 'request body is empty; send a JSON object'));
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      this.fail(response, new GeodeError(ErrorCode.BAD_REQUEST, 'request body is not valid JSON'));
      return;
    }
    const problem = queryRequestProblem(body);
    if (problem !== undefined) {
      this.fail(response, new GeodeError(ErrorCode.BAD_REQUEST, problem));
      return;
    }
    const { core, trusted } = this.options;
    const header = request.headers[SESSION_HEADER];
    let session;
    try {
      session = core.sessionFrom(Array.isArray(header) ? header[0] : header);
    } catch (error) {
      this.fail(response, error);
      return;
    }
    // Only `nearest` needs the client's address; parsing it (and X-Forwarded-For) costs on every request.
    const address = session.readPreference === 'nearest' ? clientAddress(request.socket.remoteAddress, request.headers['x-forwarded-for'], trusted) : undefined;
    core.run(body as QueryBody, session, address).then(
      (answer) => writeAnswer(response, core, answer),
      (error: unknown) => this.fail(response, error),
    );
  }

  private refuseTooLarge(request: IncomingMessage, response: ServerResponse): void {
    // The rest of the body is not worth reading: answer, then close the connection.
    response.shouldKeepAlive = false;
    this.fail(response, new GeodeError(ErrorCode.PAYLOAD_TOO_LARGE, 'request body is larger than the gateway accepts'));
    request.unpipe();
    request.pause();
  }

  private fail(response: ServerResponse, error: unknown): void {
    const geode = toGeodeError(error);
    if (geode.code === ErrorCode.INTERNAL) this.options.onInternalError?.(error);
    if (response.headersSent) {
      response.destroy();
      return;
    }
    const body = JSON.stringify(geode.toJSON());
    const headers: Record<string, string | number> = { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), ...errorHeaders(geode) };
    response.writeHead(geode.status, headers).end(body);
  }
}

/**
 * Writes a query answer: the body is already JSON text (a node's answer
 * relayed as is), plus the session token and, for answers worth retrying,
 * `Retry-After`.
 */
export function writeAnswer(response: ServerResponse, core: GatewayCore, answer: GatewayAnswer): void {
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(answer.body),
    [SESSION_HEADER]: core.codec.encode(answer.session),
  };
  if (answer.retryAfter !== undefined) headers['retry-after'] = String(answer.retryAfter);
  response.writeHead(answer.status, headers).end(answer.body);
}
