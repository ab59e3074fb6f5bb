import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { publishDeny } from './events.js';
import type { RuntimeHolder } from './handler.js';
import { statusOf, type Denial } from './problems.js';
import { sendProblem } from './respond.js';

const NOT_REDIRECTABLE: Denial = Object.freeze({
  kind: 'bad-request',
  reason: 'redirect.host_invalid',
  detail: 'The Host header or the request target cannot be redirected to HTTPS.',
});

/**
 * The handler of an http listener with `redirectToHttps`: 308 to the same host and target on
 * the HTTPS port. The host must be a plain host name, so the Location cannot be bent elsewhere.
 */
export function redirectHandler(
  holder: RuntimeHolder,
  httpsPort: () => number,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const rt = holder.current;
    const port = httpsPort();
    const host = (req.headers.host ?? '').replace(/:[0-9]+$/, '');
    const target = req.url ?? '';
    if (
      !/^[A-Za-z0-9.-]{1,253}$/.test(host) ||
      !target.startsWith('/') ||
      target.startsWith('//')
    ) {
      const id = randomUUID();
      publishDeny({
        requestId: id,
        reason: NOT_REDIRECTABLE.reason,
        status: statusOf(NOT_REDIRECTABLE.kind),
        enforced: true,
        stage: 'redirect',
        route: undefined,
        method: req.method ?? '',
        path: '',
        clientIp: req.socket.remoteAddress ?? '',
      });
      sendProblem(res, NOT_REDIRECTABLE, id, { ...rt.problems.http, close: true });
      return;
    }
    res.writeHead(308, {
      location: `https://${host}${port === 443 ? '' : `:${port}`}${target}`,
      'content-length': '0',
    });
    res.end();
  };
}
