// The fastify peer of the benchmark: fastify with @fastify/http-proxy as a plain reverse proxy,
// default options, logger off. Started by bench/run.mjs as a child process.
//
//   node bench/peers/fastify-proxy.mjs --host 127.0.0.1 --port 8082 --upstream http://127.0.0.1:8081
import proxy from '@fastify/http-proxy';
import Fastify from 'fastify';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    upstream: { type: 'string' },
  },
});
if (!values.upstream) {
  console.error('fastify-proxy: --upstream URL is required');
  process.exit(2);
}

const app = Fastify({ logger: false });
await app.register(proxy, { upstream: values.upstream });
const address = await app.listen({ host: values.host, port: Number(values.port) });
console.log(`fastify-http-proxy listening on ${address}, proxying to ${values.upstream}`);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
