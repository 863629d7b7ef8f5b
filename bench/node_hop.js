'use strict';
// Baseline for `make bench`: the least a persistent Node.js process can do per execute over HTTP
// (parse the request, run the code, answer JSON), with no auth, pool or sandbox.
const http = require('http');
const vm = require('vm');

let out = '';
process.stdout.write = (chunk) => { out += chunk; return true; };

const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    out = '';
    const started = process.hrtime.bigint();
    vm.runInThisContext(JSON.parse(body).code);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const answer = JSON.stringify({ status: 'Succeeded', result: { stdout: out, executionTimeInMilliseconds: ms } });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(answer);
  });
});
server.listen(0, '127.0.0.1', () => process.stderr.write(`${server.address().port}\n`));
