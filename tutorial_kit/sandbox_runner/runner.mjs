// One untrusted Python program in a fresh Pyodide interpreter, then exit.
//
// Started by tutorial_kit/sandbox.py as a single-use process: it starts interpreter.mjs in a
// Web Worker (which loads Pyodide from a memory snapshot), says "ready", reads one request
// from stdin, hands the code to the worker and reports on stdout in frames (one JSON object
// per line, each carrying the host's per-run nonce).
//
// Two realms. Python in Pyodide reaches the worker's JavaScript through the FFI, so the
// worker is as untrusted as the code. This file's realm is the one the code cannot reach:
// the nonce never leaves it, the frames are built and written only here, and the worker's
// reports arrive over a private MessagePort as plain data that is checked before use (a
// status the host imposes, such as timeout or killed, can never come from the worker).
// Deno runs this with read access to the Pyodide package only: no writes, network,
// environment, subprocesses or FFI. The host enforces time, memory and output limits.
//
// Usage: runner.mjs run <pyodide dir> <snapshot file> | runner.mjs snapshot <pyodide dir> <snapshot file>

const writeStdout = Deno.stdout.writeSync.bind(Deno.stdout);
const readStdin = Deno.stdin.readSync.bind(Deno.stdin);
const exit = Deno.exit;
const stringify = JSON.stringify;
const parse = JSON.parse;
const encoder = new TextEncoder();
const encode = encoder.encode.bind(encoder);

const TRACEBACK_LIMIT = 8_000;
const RESULT_LIMIT = 1_000_000; // characters of the behaviour check's outputs, as JSON
const FORWARD_LIMIT = 1_000_000; // characters per stream; the host keeps far less
const WORKER_STATUSES = ["ok", "syntax_error", "error", "memory"]; // what the code's realm may report

function send(frame) {
  const bytes = encode("\n" + stringify(frame) + "\n");
  let offset = 0;
  while (offset < bytes.length) offset += writeStdout(bytes.subarray(offset));
}

function readRequest() {
  const chunks = [];
  const buffer = new Uint8Array(65_536);
  let total = 0;
  for (;;) {
    const count = readStdin(buffer);
    if (count === null) break;
    chunks.push(buffer.slice(0, count));
    total += count;
    if (total > 16_000_000) throw new Error("request too large");
  }
  const whole = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    whole.set(chunk, offset);
    offset += chunk.length;
  }
  return parse(new TextDecoder().decode(whole));
}

const [mode, indexURL, snapshotPath] = Deno.args;

if (mode === "snapshot") {
  const { loadPyodide } = await import(new URL("pyodide.mjs", "file://" + indexURL + "/").href);
  const pyodide = await loadPyodide({ indexURL: indexURL + "/", jsglobals: {}, _makeSnapshot: true });
  Deno.writeFileSync(snapshotPath, pyodide.makeMemorySnapshot());
  exit(0);
}

/** The behaviour check's outputs as JSON text, keeping only numbers and short strings. */
function checkedResult(value) {
  if (!Array.isArray(value)) return null;
  const entries = [];
  for (const entry of value) {
    if (!Array.isArray(entry) || entry.length !== 2) return null;
    const [kind, payload] = entry;
    if (kind === "error" && typeof payload === "string") entries.push({ error: payload.slice(0, 300) });
    else if (kind === "got" && Array.isArray(payload)) {
      const got = [];
      for (const item of payload) {
        if (typeof item === "number" && Number.isFinite(item)) got.push(item);
        else if (typeof item === "string") got.push(item.slice(0, 120));
        else got.push(String(item));
      }
      entries.push({ got });
    } else return null;
  }
  const text = stringify(entries);
  return text.length > RESULT_LIMIT ? null : text;
}

const channel = new MessageChannel();
const port = channel.port1;
const worker = new Worker(new URL("interpreter.mjs", import.meta.url).href, { type: "module" });
worker.onmessage = () => {}; // the code can post on the worker's global channel: never read
worker.onerror = (event) => {
  // The worker died (its own error, or the code broke it): no done frame, so the host
  // reports "killed" with this line.
  event.preventDefault();
  Deno.stderr.writeSync(encode(`worker failed: ${String(event.message).slice(0, 500)}\n`));
  exit(1);
};
worker.postMessage({ port: channel.port2, indexURL, snapshotPath }, [channel.port2]);

let nonce = null;
const forwarded = { o: 0, e: 0 };

port.onmessage = (event) => {
  const message = event.data;
  if (!Array.isArray(message)) return;
  const kind = message[0];
  if (kind === "loaded" && nonce === null) {
    send({ k: "ready" });
    const request = readRequest();
    nonce = String(request.nonce);
    const call = request.call
      ? { name: String(request.call.name), cases: request.call.cases.map((c) => c.map(Number)) }
      : null;
    send({ n: nonce, k: "start" });
    port.postMessage({ code: String(request.code), call });
  } else if ((kind === "o" || kind === "e") && nonce !== null && typeof message[1] === "string") {
    const room = FORWARD_LIMIT - forwarded[kind];
    if (room <= 0) return;
    const text = message[1].length > room ? message[1].slice(0, room) : message[1];
    forwarded[kind] += text.length;
    send({ n: nonce, k: kind, d: text });
  } else if (kind === "done" && nonce !== null) {
    const [, status, returncode, traceback, result] = message;
    const done = {
      n: nonce,
      k: "done",
      status: WORKER_STATUSES.includes(status) ? status : "error",
      returncode: Number.isInteger(returncode) ? returncode : null,
      traceback: typeof traceback === "string" ? traceback.slice(-TRACEBACK_LIMIT) : "",
      result: result === null ? null : checkedResult(result),
    };
    if (result !== null && done.result === null) {
      done.status = "error";
      done.traceback += "\nValueError: the function's outputs are too large or malformed to report";
    }
    send(done);
    exit(0);
  }
};
