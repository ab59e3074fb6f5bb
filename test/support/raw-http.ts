import net from 'node:net';

/** One HTTP/1.1 response as read off the wire, without any client library's interpretation. */
export interface RawResponse {
  readonly status: number;
  readonly statusLine: string;
  /** Header names lower-cased; repeated headers keep every value, in order. */
  readonly headers: ReadonlyMap<string, readonly string[]>;
  readonly body: string;
  /** What arrived after this response on the same connection (with `untilClose`). */
  readonly trailing: string;
  /** The server closed the connection (with `untilClose`; false when the timeout ended it). */
  readonly closedByServer: boolean;
}

/** The first value of a header, or undefined. */
export function header(res: RawResponse, name: string): string | undefined {
  return res.headers.get(name.toLowerCase())?.[0];
}

/**
 * Parses one response from the start of `text`; undefined while it is incomplete. Only what the
 * gateway sends is supported: Content-Length framing, or a body up to the end of the connection.
 */
function parseResponse(
  text: string,
  ended: boolean,
  closedByServer: boolean,
): RawResponse | undefined {
  const end = text.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const lines = text.slice(0, end).split('\r\n');
  const statusLine = lines[0] ?? '';
  const match = /^HTTP\/1\.[01] ([0-9]{3})\b/.exec(statusLine);
  if (match === null)
    throw new Error(`not an HTTP response: ${JSON.stringify(text.slice(0, 200))}`);
  const headers = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const list = headers.get(name);
    if (list === undefined) headers.set(name, [value]);
    else list.push(value);
  }
  const length = headers.get('content-length')?.[0];
  const rest = text.slice(end + 4);
  let body: string;
  let trailing = '';
  if (length !== undefined) {
    const n = Number(length);
    if (rest.length < n) return undefined;
    body = rest.slice(0, n);
    trailing = rest.slice(n);
  } else if (ended) {
    body = rest;
  } else {
    return undefined;
  }
  return { status: Number(match[1]), statusLine, headers, body, trailing, closedByServer };
}

export interface RawExchangeOptions {
  /** Give up after this long: the result is then what arrived so far, or undefined. */
  readonly timeoutMs?: number;
  /**
   * Keep reading after the first response until the server closes the connection, so that a
   * second response (to bytes the server should have discarded) shows up in `trailing`.
   */
  readonly untilClose?: boolean;
}

/**
 * Writes `payload` byte for byte on a fresh TCP connection and reads back the first response.
 * Resolves undefined when the connection ends (or the timeout passes) without one. A client
 * library would refuse to send most of what the smuggling tests send, hence raw sockets.
 */
export function rawExchange(
  port: number,
  payload: string | Buffer,
  opts: RawExchangeOptions = {},
): Promise<RawResponse | undefined> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let text = '';
    let settled = false;
    const finish = (res: RawResponse | undefined, err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err !== undefined) reject(err);
      else resolve(res);
    };
    const settle = (ended: boolean, byServer: boolean): void => {
      try {
        if (!ended && opts.untilClose === true) return;
        const res = text === '' ? undefined : parseResponse(text, ended, byServer);
        if (res !== undefined || ended) finish(res);
      } catch (err) {
        finish(undefined, err as Error);
      }
    };
    const timer = setTimeout(() => settle(true, false), opts.timeoutMs ?? 5_000);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      settle(false, false);
    });
    socket.on('end', () => settle(true, true));
    // A reset after the response is the server dropping a connection it no longer trusts.
    socket.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') settle(true, true);
      else finish(undefined, err);
    });
    socket.on('close', () => settle(true, true));
    socket.write(payload);
  });
}
