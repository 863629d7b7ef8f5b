'use strict';
// One dynamic session: a long-lived Node.js process that runs code the way the NodeLTS
// interpreter (a JavaScript Jupyter kernel) does. Top-level declarations persist between
// executions, console output is captured per execution, the last expression's value is the
// result, and a returned Promise is awaited. Requests and answers travel as JSON lines over
// an inherited socket (its fd number is the first argument), so nothing session code prints can corrupt them.
const net = require('net');
const util = require('util');
const vm = require('vm');

const channel = new net.Socket({ fd: Number(process.argv[2] || 3), readable: true, writable: true });
let sink = { stdout: '', stderr: '' };

function capture(stream) {
  return function write(chunk, encoding, callback) {
    sink[stream] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    const done = typeof encoding === 'function' ? encoding : callback;
    if (done) process.nextTick(done);
    return true;
  };
}
process.stdout.write = capture('stdout');
process.stderr.write = capture('stderr');
// Session code sees `require` as a global, as in a notebook kernel.
globalThis.require = require;

function serializable(value) {
  if (value === undefined) return '';
  if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') {
    return util.inspect(value);
  }
  try {
    return JSON.stringify(value) === undefined ? util.inspect(value) : value;
  } catch {
    return util.inspect(value); // circular structures and the like
  }
}

// The emulator's own frames say nothing to the author of the code: keep the session's.
const OWN_FRAME = /\((node:vm|node:internal|\/opt\/emulator\/|.*kernel\.js)|at (node:internal|.*kernel\.js)/;

function describe(error) {
  if (error instanceof Error || (error && typeof error.stack === 'string')) {
    const lines = String(error.stack).split('\n').filter((line) => !OWN_FRAME.test(line));
    return `${lines.join('\n')}\n`;
  }
  return `Uncaught ${util.inspect(error)}\n`;
}

const TIMED_OUT = Symbol('timed out');

function deadline(ms) {
  let timer;
  const promise = new Promise((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

async function execute(code, timeoutMs) {
  sink = { stdout: '', stderr: '' };
  const started = process.hrtime.bigint();
  let ok = true;
  let result = '';
  try {
    let value = vm.runInThisContext(code, { filename: 'session', timeout: timeoutMs, displayErrors: false });
    if (value && typeof value.then === 'function') {
      const left = Math.max(1, timeoutMs - Number(process.hrtime.bigint() - started) / 1e6);
      const limit = deadline(left);
      try {
        value = await Promise.race([value, limit.promise]);
      } finally {
        limit.cancel();
      }
      if (value === TIMED_OUT) throw TIMED_OUT;
    }
    result = serializable(value);
  } catch (error) {
    ok = false;
    if (error === TIMED_OUT || (error && error.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT')) {
      sink.stderr += `Error: Execution timed out after ${timeoutMs / 1000} s\n`;
    } else {
      sink.stderr += describe(error);
    }
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  return { ok, stdout: sink.stdout, stderr: sink.stderr, result, ms };
}

// An error thrown later, outside any execution, must not end the session; Node would exit.
process.on('uncaughtException', (error) => { sink.stderr += describe(error); });
process.on('unhandledRejection', (error) => { sink.stderr += describe(error); });

// Chunks of the line still arriving: each chunk is searched once, so a huge request costs linear time.
let pending = [];
let queue = Promise.resolve();
channel.setEncoding('utf8');
channel.on('data', (data) => {
  let start = 0;
  let newline;
  while ((newline = data.indexOf('\n', start)) >= 0) {
    pending.push(data.slice(start, newline));
    const line = pending.join('');
    pending = [];
    start = newline + 1;
    const request = JSON.parse(line);
    queue = queue.then(async () => {
      const answer = await execute(request.code, request.timeoutMs);
      channel.write(`${JSON.stringify(answer)}\n`);
    });
  }
  if (start < data.length) pending.push(data.slice(start));
});
// The emulator closed the channel: the session is over.
channel.on('end', () => process.exit(0));
channel.on('error', () => process.exit(0));
channel.write('{"ready":true}\n');
