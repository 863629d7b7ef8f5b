'use strict';
// One NodeLTS session: a long-lived Node.js process that evaluates code as Azure's JavaScript interpreter
// does. That interpreter is the ijavascript Jupyter kernel, which evaluates through the nel library
// (n-riesco/nel 1.3.0, lib/server/*.js); this file follows nel's semantics:
// - a cell is a script run by vm.runInThisContext in the one global context, so top-level `var` and
//   function declarations persist, a redeclared `const` fails, and a top-level `await` is a SyntaxError;
// - the cell's result is its last expression's value, sent as a Jupyter mime bundle whose text/plain is
//   util.inspect of the value; a returned Promise is a value like any other ($$.config.awaitExecution
//   is false, as ijavascript leaves it);
// - `$$` (and the older `$$async$$`, `$$done$$`, `$$mime$$`, `$$html$$`... globals) ends a cell later:
//   after `$$.async()` the cell runs until `$$.done()`, `$$.sendResult()` or `$$.sendError()`;
// - output belongs to the cell that is running when it is written; once a cell has ended, what its timers
//   write is not part of its answer.
// Requests and answers travel as JSON lines over an inherited socket (its fd number is the first
// argument), so nothing session code prints can corrupt them; each answer carries its request's number.
const Module = require('module');
const net = require('net');
const path = require('path');
const util = require('util');
const vm = require('vm');

const channel = new net.Socket({ fd: Number(process.argv[2] || 3), readable: true, writable: true });
// What a cell keeps of its results' JSON (executionResult); the streams' limit comes with each request.
const RESULT_LIMIT = 1024 * 1024;
// What one cell's Jupyter outputs may hold in all; past it, an output's data is replaced by a marker.
const OUTPUTS_LIMIT = 1024 * 1024;

// The cell that is running, or null between cells: output written then belongs to no answer.
let running = null;

function append(cell, stream, text) {
  const room = cell.limit - cell[stream].length;
  if (text.length <= room) {
    cell[stream] += text;
  } else {
    if (room > 0) cell[stream] += text.slice(0, room);
    cell.dropped[stream] += text.length - Math.max(room, 0);
  }
}

function capture(stream) {
  return function write(chunk, encoding, callback) {
    if (running !== null) {
      append(running, stream, typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    }
    const done = typeof encoding === 'function' ? encoding : callback;
    if (done) process.nextTick(done);
    return true;
  };
}

function finished(cell, stream) {
  const dropped = cell.dropped[stream];
  if (!dropped) return cell[stream];
  return `${cell[stream]}\n[output truncated: ${dropped} more characters; the limit is ${cell.limit} per stream]\n`;
}
process.stdout.write = capture('stdout');
process.stderr.write = capture('stderr');

// ijavascript runs nel's server with `node --eval`: `require` resolves from the working folder (/mnt/data,
// so packages `npm install` puts there load), and the built-in modules are globals (`fs`, `path`, ...).
const cellRequire = Module.createRequire(path.join(process.cwd(), '[eval]'));
Object.assign(globalThis, { require: cellRequire, __filename: '[eval]', __dirname: '.' });
globalThis.module = new Module('[eval]');
globalThis.exports = globalThis.module.exports;
for (const name of Module.builtinModules) {
  if (name.startsWith('_') || name.includes('/') || name in globalThis) continue;
  Object.defineProperty(globalThis, name, {
    get() {
      const loaded = cellRequire(name);
      Object.defineProperty(globalThis, name, { value: loaded, writable: true, configurable: true });
      return loaded;
    },
    set(value) {
      Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
    },
    configurable: true,
    enumerable: false,
  });
}

// --- results as nel formats them -------------------------------------------------------------------

function defaultMimer(result) {
  if (typeof result === 'undefined') return { 'text/plain': 'undefined' };
  if (result === null) return { 'text/plain': 'null' };
  let mime;
  if (result._toMime) {
    try { mime = result._toMime(); } catch {}
  }
  if (typeof mime !== 'object' || mime === null) mime = {};
  if (!('text/plain' in mime)) {
    try { mime['text/plain'] = util.inspect(result); } catch {}
  }
  for (const [method, type] of [['_toHtml', 'text/html'], ['_toSvg', 'image/svg+xml'], ['_toPng', 'image/png'], ['_toJpeg', 'image/jpeg']]) {
    if (result[method] && !(type in mime)) {
      try { mime[type] = result[method](); } catch {}
    }
  }
  return mime;
}
Object.defineProperty(globalThis, '$$defaultMimer$$', { value: defaultMimer, writable: false, configurable: false, enumerable: false });

function toMime(result) {
  const mimer = typeof globalThis.$$mimer$$ === 'function' ? globalThis.$$mimer$$ : defaultMimer;
  return mimer(result);
}

// The emulator's own frames say nothing to the author of the code: keep the session's.
const OWN_FRAME = /\((node:vm|node:internal|\/opt\/emulator\/|.*kernel\.js)|at (node:internal|.*kernel\.js)/;

function formatError(error) {
  return {
    ename: error && error.name ? error.name : typeof error,
    evalue: error && error.message ? error.message : util.inspect(error),
    traceback: error && error.stack ? String(error.stack).split('\n').filter((line) => !OWN_FRAME.test(line)) : [],
  };
}

function plainObject(value) {
  const prototype = Object.getPrototypeOf(value);
  return Array.isArray(value) || prototype === Object.prototype || prototype === null;
}

// executionResult: the value after JSON serialisation, as the data-plane spec words it; what JSON cannot
// represent (functions, symbols, BigInts, Promises, Maps, class instances without toJSON) as its text/plain.
function asExecutionResult(value) {
  if (value === undefined) return '';
  if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') return util.inspect(value);
  if (value !== null && typeof value === 'object' && !plainObject(value) && typeof value.toJSON !== 'function') {
    return util.inspect(value);
  }
  let json;
  try {
    json = JSON.stringify(value);
  } catch {
    return util.inspect(value); // circular structures, strings too long to serialise and the like
  }
  if (json === undefined) return util.inspect(value);
  if (json.length <= RESULT_LIMIT) return value;
  return `${json.slice(0, RESULT_LIMIT)}\n[result truncated: ${json.length - RESULT_LIMIT} more characters of JSON; the limit is ${RESULT_LIMIT}]`;
}

// --- one cell: nel's execution context -------------------------------------------------------------

// Shared by every cell, as nel's Context.config.
const config = { awaitExecution: false };

class Cell {
  constructor(limit, end) {
    this.limit = limit;
    this.stdout = '';
    this.stderr = '';
    this.dropped = { stdout: 0, stderr: 0 };
    this.outputs = []; // Jupyter (nbformat 4) outputs: execute_result, display_data, error
    this.outputsSize = 0;
    this.value = undefined; // the value behind the last execute_result, when it came from one
    this.fromValue = false;
    this.async = false;
    this.done = false;
    this.timedOut = false;
    this.end = end;
    this.$$ = this.api();
  }

  keep(output) {
    let size = 0;
    try {
      size = (JSON.stringify(output) || '').length;
    } catch {} // a cycle or BigInt: sent as text at the end
    this.outputsSize += size;
    if (this.outputsSize > OUTPUTS_LIMIT) {
      const dropped = `[output dropped: ${size} characters of JSON; the limit is ${OUTPUTS_LIMIT} per execution]`;
      output = output.output_type === 'error'
        ? { output_type: 'error', ename: String(output.ename).slice(0, 200), evalue: dropped, traceback: [] }
        : { output_type: output.output_type, data: { 'text/plain': dropped }, metadata: {} };
    }
    this.outputs.push(output);
  }

  send(output, keepAlive, value, fromValue) {
    if (this.done) return; // nel drops what a finished cell sends
    this.keep(output);
    if (output.output_type === 'execute_result') {
      this.value = value;
      this.fromValue = fromValue;
    }
    if (keepAlive) this.async = true;
    else this.finish();
  }

  sendResult(result, keepAlive) {
    this.send({ output_type: 'execute_result', data: toMime(result), metadata: {} }, keepAlive, result, true);
  }

  sendMime(bundle, keepAlive) {
    this.send({ output_type: 'execute_result', data: bundle, metadata: {} }, keepAlive, undefined, false);
  }

  sendError(error, keepAlive) {
    this.send({ output_type: 'error', ...formatError(error) }, keepAlive);
  }

  display(data, displayId) {
    if (this.done) return;
    const output = { output_type: 'display_data', data, metadata: {} };
    if (displayId !== undefined) output.transient = { display_id: displayId };
    this.keep(output);
  }

  finish() {
    if (this.done) return;
    this.done = true;
    this.async = false;
    this.end();
  }

  api() {
    const cell = this;
    const $$ = Object.create(null);
    Object.defineProperty($$, 'config', { value: config, writable: false, configurable: false, enumerable: false });
    // A Promise given to an output function is resolved first; its rejection is the cell's error.
    const resolving = (handler) => function output(value, keepAlive) {
      if (value instanceof Promise) {
        cell.async = true;
        value.then((resolved) => handler.call(cell, resolved, keepAlive)).catch((error) => cell.sendError(error, false));
        return undefined;
      }
      return handler.call(cell, value, keepAlive);
    };
    const bundle = (type) => resolving(function sendOne(value, keepAlive) { this.sendMime({ [type]: value }, keepAlive); });
    $$.async = function async(value) {
      cell.async = arguments.length === 0 ? true : !!value;
      return cell.async;
    };
    $$.done = function done(result) { cell.sendResult(result, false); };
    $$.sendResult = resolving(Cell.prototype.sendResult);
    $$.sendError = resolving(Cell.prototype.sendError);
    $$.mime = resolving(Cell.prototype.sendMime);
    $$.text = bundle('text/plain');
    $$.html = bundle('text/html');
    $$.svg = bundle('image/svg+xml');
    $$.png = bundle('image/png');
    $$.jpeg = bundle('image/jpeg');
    $$.json = bundle('application/json');
    $$.display = function display(...id) {
      const show = (data) => cell.display(data, id.length ? id[0] : undefined);
      return {
        mime: (data) => show(data),
        text: (data) => show({ 'text/plain': data }),
        html: (data) => show({ 'text/html': data }),
        svg: (data) => show({ 'image/svg+xml': data }),
        png: (data) => show({ 'image/png': data }),
        jpeg: (data) => show({ 'image/jpeg': data }),
        json: (data) => show({ 'application/json': data }),
        close: () => {},
      };
    };
    $$.clear = function clear() {}; // clears a notebook's output area; an answer has none to clear
    $$.input = function input() {
      // Azure's data plane has no way to answer a kernel's input request.
      cell.sendError(new Error('$$.input: this session cannot read input; pass data in the code or a file'), false);
    };
    return $$;
  }

  // The globals nel sets for the running cell; the older setters and `$$async$$` are defined once, below.
  capture() {
    globalThis.$$ = this.$$;
    globalThis.$$done$$ = this.$$.done;
    if (typeof globalThis.$$mimer$$ !== 'function') globalThis.$$mimer$$ = defaultMimer;
  }

  answer(ok) {
    const errors = this.outputs.filter((o) => o.output_type === 'error');
    for (const error of errors) {
      append(this, 'stderr', `${error.traceback.length ? error.traceback.join('\n') : `${error.ename}: ${error.evalue}`}\n`);
    }
    const results = this.outputs.filter((o) => o.output_type === 'execute_result');
    const last = results[results.length - 1];
    let result = '';
    if (last !== undefined) {
      const plain = last.data && last.data['text/plain'];
      result = this.fromValue ? asExecutionResult(this.value) : (plain === undefined ? '' : plain);
    }
    return {
      ok: ok && errors.length === 0,
      stdout: finished(this, 'stdout'),
      stderr: finished(this, 'stderr'),
      result,
      outputs: this.outputs,
    };
  }
}

// nel redefines these for each cell; defined once, they act on the cell running when they are used (none:
// dropped, as a finished cell's are), and the global object keeps its fast shape.
for (const [name, method] of [['$$mime$$', 'mime'], ['$$html$$', 'html'], ['$$svg$$', 'svg'], ['$$png$$', 'png'], ['$$jpeg$$', 'jpeg']]) {
  Object.defineProperty(globalThis, name, {
    set(value) { if (running !== null) running.$$[method](value); },
    configurable: true,
    enumerable: false,
  });
}
Object.defineProperty(globalThis, '$$async$$', {
  get: () => running !== null && running.async,
  set(value) { if (running !== null) running.async = !!value; },
  configurable: true,
  enumerable: false,
});

function timedOut(error) {
  return error && error.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT';
}

function execute(code, timeoutMs, outputLimit) {
  const started = process.hrtime.bigint();
  let timer = null;
  let ended;
  const end = new Promise((resolve) => { ended = resolve; });
  const cell = new Cell(outputLimit, () => {
    clearTimeout(timer);
    if (running === cell) running = null;
    ended();
  });
  running = cell;
  cell.capture();
  // Run here, not inside a Promise executor: the cell's stack has no frame of the kernel's.
  let value;
  try {
    const script = new vm.Script(code, { filename: 'evalmachine.<anonymous>' });
    value = script.runInThisContext({ timeout: timeoutMs, displayErrors: false });
  } catch (error) {
    if (timedOut(error)) {
      cell.timedOut = true;
      cell.finish();
    } else {
      cell.$$.sendError(error);
    }
  }
  if (!cell.done && !cell.async) {
    if (config.awaitExecution) cell.$$.sendResult(value);
    else cell.sendResult(value);
  }
  if (!cell.done) {
    const left = Math.max(1, timeoutMs - Number(process.hrtime.bigint() - started) / 1e6);
    timer = setTimeout(() => {
      cell.timedOut = true;
      cell.finish();
    }, left);
  }
  return end.then(() => {
    if (cell.timedOut) append(cell, 'stderr', `Error: Execution timed out after ${timeoutMs / 1000} s\n`);
    const answer = cell.answer(!cell.timedOut);
    answer.ms = Number(process.hrtime.bigint() - started) / 1e6;
    return answer;
  });
}

// An error thrown later, outside any cell's code, goes to the running cell's stderr (nel's
// uncaughtException handler) and must not end the session; Node would exit.
function uncaught(error) {
  if (running === null) return;
  const text = error && error.stack ? String(error.stack) : `Uncaught ${util.inspect(error)}`;
  append(running, 'stderr', `${text.split('\n').filter((line) => !OWN_FRAME.test(line)).join('\n')}\n`);
}
process.on('uncaughtException', uncaught);
process.on('unhandledRejection', uncaught);

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
      // A BigInt or a cycle that session code put in a result: send its text instead.
      answer.result = util.inspect(answer.result);
      answer.outputs = answer.outputs.map((output) => {
        try {
          JSON.stringify(output);
          return output;
        } catch {
          return { ...output, data: { 'text/plain': util.inspect(output.data) } };
        }
      });
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
