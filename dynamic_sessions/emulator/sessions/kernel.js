'use strict';
// One dynamic session: a long-lived Node.js process that runs code the way the NodeLTS
// interpreter (a JavaScript Jupyter kernel) does. Top-level declarations persist between
// executions, console output is captured per execution, the last expression's value is the
// result, a returned Promise is awaited, and top-level `await` works as in Node's REPL. Requests
// and answers travel as JSON lines over an inherited socket (its fd number is the first argument),
// so nothing session code prints can corrupt them; each answer carries its request's number.
const net = require('net');
const util = require('util');
const vm = require('vm');

const channel = new net.Socket({ fd: Number(process.argv[2] || 3), readable: true, writable: true });
// Output past the limit is counted, not kept: a flood costs the session nothing but time.
let sink = newSink(Infinity);

function newSink(limit) {
  return { limit, stdout: '', stderr: '', dropped: { stdout: 0, stderr: 0 } };
}

function append(stream, text) {
  const room = sink.limit - sink[stream].length;
  if (text.length <= room) {
    sink[stream] += text;
  } else {
    if (room > 0) sink[stream] += text.slice(0, room);
    sink.dropped[stream] += text.length - Math.max(room, 0);
  }
}

function capture(stream) {
  return function write(chunk, encoding, callback) {
    append(stream, typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    const done = typeof encoding === 'function' ? encoding : callback;
    if (done) process.nextTick(done);
    return true;
  };
}

function finished(stream) {
  const dropped = sink.dropped[stream];
  if (!dropped) return sink[stream];
  return `${sink[stream]}\n[output truncated: ${dropped} more characters; the limit is ${sink.limit} per stream]\n`;
}
process.stdout.write = capture('stdout');
process.stderr.write = capture('stderr');
// Session code sees `require` as a global, as in a notebook kernel.
globalThis.require = require;

function serializable(value, limit) {
  if (value === undefined) return '';
  if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') {
    return util.inspect(value);
  }
  let json;
  try {
    json = JSON.stringify(value);
  } catch {
    return util.inspect(value); // circular structures, strings too long to serialise and the like
  }
  if (json === undefined) return util.inspect(value);
  if (json.length <= limit) return value;
  return `${json.slice(0, limit)}\n[result truncated: ${json.length - limit} more characters of JSON; the limit is ${limit}]`;
}

// The emulator's own frames say nothing to the author of the code: keep the session's.
const OWN_FRAME = /\((node:vm|node:internal|node:inspector|\/opt\/emulator\/|.*kernel\.js)|at (node:internal|node:inspector|.*kernel\.js)/;

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

// Code with a top-level `await` is not a script; V8's REPL mode (what a DevTools console runs)
// evaluates it with the same persistence of top-level declarations, through the inspector.
let inspectorSession = null;
const HANDOFF = Symbol.for('dynamic-sessions.kernel.handoff');

function post(method, params) {
  return new Promise((resolve, reject) => {
    inspectorSession.post(method, params, (error, answer) => (error ? reject(error) : resolve(answer)));
  });
}

// The value behind a RemoteObject of this very process.
async function localValue(remote) {
  if (remote.objectId === undefined) {
    if (remote.unserializableValue !== undefined) {
      const text = remote.unserializableValue;
      return remote.type === 'bigint' ? BigInt(text.slice(0, -1)) : Number(text);
    }
    return remote.value;
  }
  let taken;
  globalThis[HANDOFF] = (value) => { taken = value; };
  try {
    await post('Runtime.callFunctionOn', {
      objectId: remote.objectId,
      functionDeclaration: `function () { 'use strict'; globalThis[Symbol.for('dynamic-sessions.kernel.handoff')](this); }`,
    });
  } finally {
    delete globalThis[HANDOFF];
  }
  return taken;
}

function needsAwait(code, error) {
  return error && error.name === 'SyntaxError' && code.includes('await');
}

async function runWithAwait(code, timeoutMs, started) {
  // A session of the inspector per execution: nothing of it outlives the call, a timed-out one included.
  inspectorSession = new (require('inspector').Session)();
  inspectorSession.connect();
  const left = () => Math.max(1, timeoutMs - Number(process.hrtime.bigint() - started) / 1e6);
  const limit = deadline(left());
  const evaluation = post('Runtime.evaluate', {
    expression: `${code}\n//# sourceURL=session`,
    replMode: true,
    awaitPromise: true,
    timeout: Math.ceil(left()),
  });
  evaluation.catch(() => {}); // still pending when the deadline wins; its end is of no interest then
  try {
    let answer;
    try {
      answer = await Promise.race([evaluation, limit.promise]);
    } catch (error) {
      if (/terminated/i.test(String(error && error.message))) throw TIMED_OUT;
      throw error;
    }
    if (answer === TIMED_OUT) throw TIMED_OUT;
    if (answer.exceptionDetails) {
      const details = answer.exceptionDetails;
      throw details.exception ? await localValue(details.exception) : new Error(details.text);
    }
    return await localValue(answer.result);
  } finally {
    limit.cancel();
    inspectorSession.disconnect();
    inspectorSession = null;
  }
}

async function execute(code, timeoutMs, outputLimit) {
  sink = newSink(outputLimit);
  const started = process.hrtime.bigint();
  let ok = true;
  let result = '';
  try {
    let script = null;
    try {
      script = new vm.Script(code, { filename: 'session' });
    } catch (error) {
      if (!needsAwait(code, error)) throw error;
    }
    let value;
    if (script === null) {
      value = await runWithAwait(code, timeoutMs, started);
    } else {
      value = script.runInThisContext({ timeout: timeoutMs, displayErrors: false });
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
    }
    result = serializable(value, outputLimit);
  } catch (error) {
    ok = false;
    if (error === TIMED_OUT || (error && error.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT')) {
      append('stderr', `Error: Execution timed out after ${timeoutMs / 1000} s\n`);
    } else {
      append('stderr', describe(error));
    }
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const answer = { ok, stdout: finished('stdout'), stderr: finished('stderr'), result, ms };
  sink = newSink(outputLimit);
  return answer;
}

// An error thrown later, outside any execution, must not end the session; Node would exit.
process.on('uncaughtException', (error) => { append('stderr', describe(error)); });
process.on('unhandledRejection', (error) => { append('stderr', describe(error)); });

// Chunks of the line being received; each chunk is searched once, so a huge line costs linear time.
let pending = [];
let queue = Promise.resolve();

function received(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch {
    request = null;
  }
  queue = queue.then(async () => {
    if (request === null || typeof request.code !== 'string') {
      channel.write('{"unreadable":true}\n');
      return;
    }
    const answer = await execute(request.code, request.timeoutMs, request.outputLimit || Infinity);
    answer.seq = request.seq;
    let text;
    try {
      text = JSON.stringify(answer);
    } catch {
      answer.result = util.inspect(answer.result);
      text = JSON.stringify(answer);
    }
    channel.write(`${text}\n`);
  });
}

channel.setEncoding('utf8');
channel.on('data', (data) => {
  let start = 0;
  let newline;
  while ((newline = data.indexOf('\n', start)) >= 0) {
    pending.push(data.slice(start, newline));
    const line = pending.length === 1 ? pending[0] : pending.join('');
    pending = [];
    start = newline + 1;
    received(line);
  }
  if (start < data.length) pending.push(data.slice(start));
});
// The emulator closed the channel: the session is over.
channel.on('end', () => process.exit(0));
channel.on('error', () => process.exit(0));
channel.write('{"ready":true}\n');
