// One untrusted Python program in a fresh Pyodide interpreter, then exit.
//
// Started by tutorial_kit/sandbox.py as a single-use worker: it loads Pyodide from a memory
// snapshot, says "ready", reads one request from stdin, runs it and reports on stdout in
// frames (one JSON object per line, each carrying the host's per-run nonce). Everything the
// code prints travels inside frames, so printed text can never look like a frame of ours.
// Deno runs this with read access to the Pyodide package only: no writes, network,
// environment, subprocesses or FFI. The host enforces time, memory and output limits.
//
// Usage: runner.mjs run <pyodide dir> <snapshot file> | runner.mjs snapshot <pyodide dir> <snapshot file>

// The untrusted code can reach this JavaScript realm (through pyodide's FFI), so every
// function used after it ran is captured now, before it can be replaced.
const writeStdout = Deno.stdout.writeSync.bind(Deno.stdout);
const readStdin = Deno.stdin.readSync.bind(Deno.stdin);
const exit = Deno.exit;
const stringify = JSON.stringify;
const parse = JSON.parse;
const encoder = new TextEncoder();
const encode = encoder.encode.bind(encoder);
const subarray = Function.prototype.call.bind(Uint8Array.prototype.subarray);
const setBytes = Function.prototype.call.bind(Uint8Array.prototype.set);
const max = Math.max;
const sliceText = Function.prototype.call.bind(String.prototype.slice);

const TRACEBACK_LIMIT = 8_000;
const RESULT_LIMIT = 1_000_000;

const FORWARD_LIMIT = 1_000_000; // bytes per stream; the host keeps far less
const FRAME_CHUNK = 16_384;

function send(frame) {
  const bytes = encode("\n" + stringify(frame) + "\n");
  let offset = 0;
  while (offset < bytes.length) offset += writeStdout(subarray(bytes, offset));
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
const { loadPyodide } = await import(new URL("pyodide.mjs", "file://" + indexURL + "/").href);

if (mode === "snapshot") {
  const pyodide = await loadPyodide({ indexURL: indexURL + "/", jsglobals: {}, _makeSnapshot: true });
  Deno.writeFileSync(snapshotPath, pyodide.makeMemorySnapshot());
  exit(0);
}

const pyodide = await loadPyodide({
  indexURL: indexURL + "/",
  jsglobals: {},
  _loadSnapshot: Deno.readFileSync(snapshotPath),
});
const builtins = pyodide.pyimport("builtins");
const compile = builtins.compile;
const execute = builtins.exec;
const newDict = builtins.dict;

// Behaviour checks: call the function on every case, return its outputs (never a verdict;
// the host compares them with answers it computed itself).
const harness = newDict();
pyodide.runPython(
  `
import json as _json

def run_cases(function, cases_json):
    results = []
    for case in _json.loads(cases_json):
        argument = list(case)
        try:
            returned = function(argument)
            got = argument if returned is None else list(returned)
            results.append({"got": got})
        except Exception as error:
            results.append({"error": type(error).__name__ + ": " + str(error)[:200]})
    return _json.dumps(results)
`,
  { globals: harness },
);
const runCases = harness.get("run_cases");

send({ k: "ready" });
const request = readRequest();
const nonce = String(request.nonce);
const source = String(request.code);
const callName = request.call ? String(request.call.name) : null;
const callCases = request.call ? String(request.call.cases) : null;

const now = performance.now.bind(performance);
const flushers = [];

// Output is batched into frames of up to FRAME_CHUNK bytes (flushed at least every 100 ms),
// so a flood of tiny prints costs the pipe about what the text itself weighs.
function forwarder(kind) {
  const decoder = new TextDecoder();
  const decode = decoder.decode.bind(decoder);
  const buffer = new Uint8Array(FRAME_CHUNK);
  let buffered = 0;
  let forwarded = 0;
  let lastFlush = now();
  function flush() {
    if (buffered > 0) send({ n: nonce, k: kind, d: decode(subarray(buffer, 0, buffered), { stream: true }) });
    buffered = 0;
    lastFlush = now();
  }
  flushers.push(flush);
  return {
    write(bytes) {
      const room = FORWARD_LIMIT - forwarded;
      const kept = bytes.length > room ? subarray(bytes, 0, max(room, 0)) : bytes;
      forwarded += kept.length;
      for (let start = 0; start < kept.length; ) {
        const piece = subarray(kept, start, start + (FRAME_CHUNK - buffered));
        setBytes(buffer, piece, buffered);
        buffered += piece.length;
        start += piece.length;
        if (buffered === FRAME_CHUNK) flush();
      }
      if (now() - lastFlush > 100) flush();
      return bytes.length;
    },
  };
}
pyodide.setStdout(forwarder("o"));
pyodide.setStderr(forwarder("e"));
const [flushStdout, flushStderr] = flushers;
pyodide.setStdin({ error: true });

function failure(error) {
  const type = error && typeof error.type === "string" ? error.type : "";
  let text = error && typeof error.message === "string" ? error.message : String(error);
  if (text.length > TRACEBACK_LIMIT) text = sliceText(text, 0, 2_000) + "\n…\n" + sliceText(text, -4_000);
  return { type, text };
}

send({ n: nonce, k: "start" });
let status = "ok";
let returncode = 0;
let traceback = "";
let result = null;
let compiled = null;
try {
  compiled = compile(source, "main.py", "exec");
} catch (error) {
  const { type, text } = failure(error);
  status = ["SyntaxError", "IndentationError", "TabError"].includes(type) ? "syntax_error" : "error";
  returncode = null;
  traceback = text;
}
if (compiled !== null) {
  const namespace = newDict();
  namespace.set("__name__", callName === null ? "__main__" : "candidate");
  try {
    execute(compiled, namespace);
    if (callName !== null) {
      const fn = namespace.get(callName);
      if (fn === undefined) throw new Error(`NameError: name '${callName}' is not defined`);
      result = String(runCases(fn, callCases));
      if (result.length > RESULT_LIMIT) throw new Error("ValueError: the function's outputs are too large to report");
    }
  } catch (error) {
    const { type, text } = failure(error);
    if (type === "SystemExit") {
      // The exit code is the code's own claim about itself; it can only choose ok or error.
      const cleanExit = /SystemExit(: (0|None))?\s*$/;
      returncode = cleanExit.test(text) ? 0 : 1;
      status = returncode === 0 ? "ok" : "error";
      traceback = returncode === 0 ? "" : text;
    } else {
      status = type === "MemoryError" ? "memory" : "error";
      returncode = 1;
      traceback = text;
    }
  }
}
flushStdout();
flushStderr();
send({ n: nonce, k: "done", status, returncode, traceback, result });
exit(0);
