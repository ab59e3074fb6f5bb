// A stand-in for the demo upstream (dist/demo/serve.js), used by bench/run.mjs only when the
// demo upstream has not been built: same command line, same 1024-byte JSON body at GET /catalog.
//
//   node bench/stand-in-upstream.mjs --host 127.0.0.1 --port 8081
import http from 'node:http';
import { parseArgs } from 'node:util';

const CATALOG_BYTES = 1024;

/** A fixed catalog, padded so that the JSON text is exactly CATALOG_BYTES long. */
function catalogBody() {
  const catalog = {
    items: [
      { id: 'sku-1001', name: 'Portcullis winch', price: 129.5, stock: 12 },
      { id: 'sku-1002', name: 'Drawbridge chain', price: 74.0, stock: 40 },
      { id: 'sku-1003', name: 'Murder hole cover', price: 19.99, stock: 3 },
    ],
    pad: '',
  };
  const missing = CATALOG_BYTES - Buffer.byteLength(JSON.stringify(catalog));
  if (missing < 0) throw new Error(`stand-in catalog is over ${CATALOG_BYTES} bytes`);
  catalog.pad = '.'.repeat(missing);
  const body = Buffer.from(JSON.stringify(catalog));
  if (body.length !== CATALOG_BYTES) throw new Error('stand-in catalog has the wrong size');
  return body;
}

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
  },
});

const body = catalogBody();
const notFound = Buffer.from('{"error":"not found"}');
const created = Buffer.from('{"id":"ord_1","status":"pending"}');

const server = http.createServer((req, res) => {
  if (req.url === '/catalog' && (req.method === 'GET' || req.method === 'HEAD')) {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  if (req.url === '/accounts/acc_1001/orders' && req.method === 'POST') {
    // The contract setups' order: read whole, answered with a small created order.
    req.resume();
    req.on('end', () => {
      res.writeHead(201, { 'content-type': 'application/json', 'content-length': created.length });
      res.end(created);
    });
    return;
  }
  res.writeHead(404, { 'content-type': 'application/json', 'content-length': notFound.length });
  res.end(notFound);
});

server.listen(Number(values.port), values.host, () => {
  const address = server.address();
  console.log(`demo upstream listening on http://${values.host}:${address.port}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    server.close();
    server.closeAllConnections();
  });
}
