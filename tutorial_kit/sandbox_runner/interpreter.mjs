// The untrusted code's realm: a Web Worker that loads Pyodide and runs one request.
//
// Started by runner.mjs. Python in Pyodide can reach this worker's JavaScript (through the
// FFI), so nothing here decides the run's outcome for the host: the per-run secret and the
// frames the host reads live in runner.mjs, a different realm the code cannot touch. This
// worker only tells runner.mjs what happened, over a private MessagePort it receives before
// any untrusted code exists and keeps in a closure; the code cannot find the port, and
// anything the code posts on the worker's own global channel is ignored. Everything used
// after the code ran is captured now, before it can be replaced; only strings, numbers and
// plain arrays cross, and nothing after the run calls JSON, toJSON or a prototype method.
//
// Behaviour checks read what the function returned through CPython's C API (WebAssembly
// exports captured before the code ran), never through Python code, the Python/JavaScript
// proxies or type slots: the code can rewrite those (it can even patch C slots with ctypes),
// but not the exported functions, so the numbers read are the ones the function returned.

const call = Function.prototype.call;
const uncurry = (method) => call.bind(method); // method(thisValue, ...args), immune to later patches
const postTo = uncurry(MessagePort.prototype.postMessage);
const subarray = uncurry(Uint8Array.prototype.subarray);
const setBytes = uncurry(Uint8Array.prototype.set);
const byteLength = uncurry(Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), "length").get);
const decodeWith = uncurry(TextDecoder.prototype.decode);
const sliceText = uncurry(String.prototype.slice);
const trimEnd = uncurry(String.prototype.trimEnd);
const endsWith = uncurry(String.prototype.endsWith);
const defineProperty = Reflect.defineProperty;
const getOwn = Object.getOwnPropertyDescriptor;
const isInteger = Number.isInteger;
const toText = String;
const now = uncurry(Performance.prototype.now);
const perf = performance;
const ArrayCtor = Array;
const ErrorCtor = Error;
const TextDecoderCtor = TextDecoder;
const Uint8ArrayCtor = Uint8Array;

const TRACEBACK_LIMIT = 8_000;
const RESULT_ITEMS_LIMIT = 200_000; // numbers reported across all cases
const FRAME_CHUNK = 16_384;
const STREAM_LIMIT = 1_000_000; // bytes per stream; runner.mjs and the host keep less
const REPR_LIMIT = 100;

/** An own data property's value, read without running any getter the code may have added. */
function own(object, key) {
  const descriptor = getOwn(object, key);
  return descriptor && "value" in descriptor ? descriptor.value : undefined;
}

/** array[index] = value without running a setter the code may have put on Array.prototype. */
function put(array, index, value) {
  defineProperty(array, index, { __proto__: null, value, writable: true, enumerable: true, configurable: true });
}

const { port, indexURL, snapshotPath } = await new Promise((resolve) => {
  self.onmessage = (event) => {
    self.onmessage = null;
    resolve(event.data);
  };
});
const post = (message) => postTo(port, message);

const { loadPyodide } = await import(new URL("pyodide.mjs", "file://" + indexURL + "/").href);
const pyodide = await loadPyodide({
  indexURL: indexURL + "/",
  jsglobals: {},
  _loadSnapshot: Deno.readFileSync(snapshotPath),
});
const builtins = pyodide.pyimport("builtins");
const compile = builtins.compile;
const execute = builtins.exec;
const newDict = builtins.dict;

// CPython's C API, as the WebAssembly module exports it.
const api = pyodide._module;
const C = {
  call: api._PyObject_CallOneArg,
  dictGet: api._PyDict_GetItemWithError,
  unicodeFromString: api._PyUnicode_FromString,
  newUTF8: api.stringToNewUTF8,
  free: api._free,
  listNew: api._PyList_New,
  listSetItem: api._PyList_SetItem,
  listSize: api._PyList_Size,
  listGetItem: api._PyList_GetItem,
  sequenceList: api._PySequence_List,
  longFromDouble: api._PyLong_FromDouble,
  floatFromDouble: api._PyFloat_FromDouble,
  longAsDouble: api._PyLong_AsDouble,
  floatAsDouble: api._PyFloat_AsDouble,
  typeOf: api._PyObject_Type,
  typeName: api._PyType_GetName,
  repr: api._PyObject_Repr,
  str: api._PyObject_Str,
  asUTF8: api._PyUnicode_AsUTF8,
  utf8ToString: api.UTF8ToString,
  errOccurred: api._PyErr_Occurred,
  errClear: api._PyErr_Clear,
  takeException: api._PyErr_GetRaisedException,
  exceptionMatches: api._PyErr_GivenExceptionMatches,
  pointerOf: api.PyProxy_getPtr,
  tupleGetItem: api._PyTuple_GetItem,
  tupleNew: api._PyTuple_New,
  tupleSetItem: api._PyTuple_SetItem,
  incref: api._Py_IncRef,
  callTuple: api._PyObject_Call,
  callNoArgs: api._PyObject_CallNoArgs,
  longFromLong: api._PyLong_FromLong,
  listSetSlice: api._PyList_SetSlice,
  setTrace: api._PyEval_SetTrace,
  setProfile: api._PyEval_SetProfile,
  gcDisable: api._PyGC_Disable,
};
const LIST = api._PyList_Type;
const INT = api._PyLong_Type;
const FLOAT = api._PyFloat_Type;
const NONE = C.pointerOf(pyodide.runPython("type(None)"));
const EXCEPTION = api.HEAPU32[api._PyExc_Exception >> 2]; // the class itself, not the variable
// What runs the code's own Python while a function is called, besides the function: trace and
// profile functions, sys.monitoring callbacks, garbage-collector callbacks. Captured now (builtins
// and the collector's real callback list), switched off before every case.
const hooks = pyodide.runPython(`
import gc, sys
_m = sys.monitoring
(None, sys.gettrace, sys.getprofile, gc.callbacks, _m.set_events, _m.register_callback,
 tuple(getattr(_m.events, _n) for _n in dir(_m.events) if _n.isupper() and _n != "NO_EVENTS"))
`);
const HOOKS = C.pointerOf(hooks);
const [NONE_OBJECT, GET_TRACE, GET_PROFILE, GC_CALLBACKS, SET_EVENTS, REGISTER_CALLBACK, EVENTS] = [0, 1, 2, 3, 4, 5, 6].map(
  (index) => C.tupleGetItem(HOOKS, index),
);
const EVENT_COUNT = api._PyTuple_Size(EVENTS);
const SMALL_INTS = [0, 1, 2, 3, 4, 5].map((number) => C.longFromLong(number)); // tool ids (references kept)
// The interpreter's internals are reachable from Python through these two names; the code
// must not be able to rewire what the checks below call.
delete pyodide._module;
delete pyodide._api;

function forwarder(kind) {
  const decoder = new TextDecoderCtor();
  const buffer = new Uint8ArrayCtor(FRAME_CHUNK);
  let buffered = 0;
  let forwarded = 0;
  let lastFlush = now(perf);
  function flush() {
    if (buffered > 0) post([kind, decodeWith(decoder, subarray(buffer, 0, buffered), { stream: true })]);
    buffered = 0;
    lastFlush = now(perf);
  }
  return {
    flush,
    stream: {
      write(bytes) {
        const length = byteLength(bytes);
        const keptLength = length < STREAM_LIMIT - forwarded ? length : STREAM_LIMIT - forwarded;
        forwarded += keptLength;
        for (let start = 0; start < keptLength; ) {
          const room = FRAME_CHUNK - buffered;
          const pieceLength = keptLength - start < room ? keptLength - start : room;
          setBytes(buffer, subarray(bytes, start, start + pieceLength), buffered);
          buffered += pieceLength;
          start += pieceLength;
          if (buffered === FRAME_CHUNK) flush();
        }
        if (now(perf) - lastFlush > 100) flush();
        return length;
      },
    },
  };
}
const out = forwarder("o");
const err = forwarder("e");
pyodide.setStdout(out.stream);
pyodide.setStderr(err.stream);
pyodide.setStdin({ error: true });

function failure(error) {
  const type = error ? own(error, "type") : undefined;
  const message = error ? own(error, "message") : undefined;
  let text = typeof message === "string" ? message : toText(error);
  if (text.length > TRACEBACK_LIMIT) text = sliceText(text, 0, 2_000) + "\n…\n" + sliceText(text, -4_000);
  return { type: typeof type === "string" ? type : "", text };
}

/** A Python str object's text (or the fallback), clearing any error. */
function textOf(object, fallback) {
  const utf8 = object ? C.asUTF8(object) : 0;
  if (!utf8) {
    C.errClear();
    return fallback;
  }
  return C.utf8ToString(utf8);
}

/** The pending exception as "Type: message", the line one failed case shows. Anything
 * but an ordinary Exception (SystemExit, KeyboardInterrupt) ends the whole run instead. */
function takeFailure() {
  const exception = C.takeException();
  if (!exception) return "SystemError: error return without exception set";
  const name = textOf(C.typeName(C.typeOf(exception)), "Exception");
  const message = sliceText(textOf(C.str(exception), "<str 失败>"), 0, 200); // may run the code's __str__
  const text = message ? name + ": " + message : name;
  if (C.exceptionMatches(exception, EXCEPTION) === 0) throw new ErrorCtor(text);
  return text;
}

/** fn(*args) for borrowed object pointers; a new reference, or 0 with an exception set. */
function callWith(fn, args) {
  const tuple = C.tupleNew(args.length);
  for (let index = 0; index < args.length; index++) {
    C.incref(args[index]);
    C.tupleSetItem(tuple, index, args[index]);
  }
  return C.callTuple(fn, tuple, 0);
}

/** Switch off every hook through which the code's Python could run during the next call (and
 * change what the call returns): the result is then what the function alone returned. The code's
 * audit hook may refuse or re-arm, so the state is checked and the run fails if it stays armed. */
function quiet() {
  for (let attempt = 0; attempt < 3; attempt++) {
    C.setTrace(0, 0); // both audited: the code's audit hook may refuse, so the state is read back below
    C.setProfile(0, 0);
    C.errClear();
    C.gcDisable();
    let settled = C.listSetSlice(GC_CALLBACKS, 0, 0x7fffffff, 0) === 0;
    for (let tool = 0; tool < 6; tool++) {
      const id = SMALL_INTS[tool];
      if (!callWith(SET_EVENTS, [id, SMALL_INTS[0]])) C.errClear(); // a tool id not in use
      for (let index = 0; index < EVENT_COUNT; index++) {
        const previous = callWith(REGISTER_CALLBACK, [id, C.tupleGetItem(EVENTS, index), NONE_OBJECT]);
        if (!previous) C.errClear();
        else if (previous !== NONE_OBJECT) settled = false;
      }
    }
    settled = C.callNoArgs(GET_TRACE) === NONE_OBJECT && C.callNoArgs(GET_PROFILE) === NONE_OBJECT && settled;
    C.errClear();
    if (settled) return;
  }
  throw new ErrorCtor("RuntimeError: the code keeps trace or monitoring hooks armed that the check cannot switch off");
}

/** A new Python list holding the case's numbers (ints stay ints, as json.loads would give). */
function newArgument(values) {
  const list = C.listNew(values.length);
  for (let index = 0; index < values.length; index++) {
    const value = values[index];
    C.listSetItem(list, index, isInteger(value) ? C.longFromDouble(value) : C.floatFromDouble(value));
  }
  return list;
}

/** What the function returned, as an array of numbers (or the error text when it cannot be
 * read as a list); anything that is not exactly an int or a float becomes its repr in angle
 * brackets (a string, never equal to the host's numbers). No code of the candidate's runs
 * while the numbers are read. */
function readNumbers(value, budget) {
  let list = value;
  if (C.typeOf(list) !== LIST) {
    list = C.sequenceList(value); // runs the code's own iterator: that is its output
    if (!list) return takeFailure();
  }
  const count = C.listSize(list);
  if (count > budget.left) throw new ErrorCtor("ValueError: the function's outputs are too large to report");
  budget.left -= count;
  const numbers = new ArrayCtor(count);
  const others = [];
  for (let index = 0; index < count; index++) {
    const item = C.listGetItem(list, index);
    const type = C.typeOf(item);
    let number = null;
    if (type === FLOAT) number = C.floatAsDouble(item);
    else if (type === INT) number = C.longAsDouble(item);
    if (number === -1 && C.errOccurred()) {
      C.errClear();
      put(numbers, index, "<int 太大>");
    } else if (number !== null) put(numbers, index, number);
    else put(others, others.length, index);
  }
  // Only now run the code's own __repr__: every number above has already been read.
  for (let position = 0; position < others.length; position++) {
    const index = others[position];
    put(numbers, index, "<" + sliceText(textOf(C.repr(C.listGetItem(list, index)), "repr 失败"), 0, REPR_LIMIT) + ">");
  }
  return numbers;
}

/** Calls the function on a fresh copy of each case and reads what it returned (or, when it
 * returned None, the argument it sorted in place). Outputs only, never a verdict. */
function runCases(namespace, name, cases) {
  const nameBytes = C.newUTF8(name);
  const key = C.unicodeFromString(nameBytes);
  C.free(nameBytes);
  const fn = key ? C.dictGet(namespace, key) : 0;
  if (!fn) {
    C.errClear();
    throw new ErrorCtor(`NameError: name '${name}' is not defined`);
  }
  const results = new ArrayCtor(cases.length);
  const budget = { left: RESULT_ITEMS_LIMIT };
  for (let index = 0; index < cases.length; index++) {
    quiet();
    const argument = newArgument(cases[index]);
    const returned = C.call(fn, argument); // references are kept (never freed) until exit
    const read = returned ? readNumbers(C.typeOf(returned) === NONE ? argument : returned, budget) : takeFailure();
    put(results, index, typeof read === "string" ? ["error", read] : ["got", read]);
  }
  return results;
}

port.onmessage = (event) => {
  port.onmessage = null;
  const request = event.data;
  const source = toText(request.code);
  const callName = request.call ? toText(request.call.name) : null;
  const cases = request.call ? request.call.cases : [];
  let status = "ok";
  let returncode = 0;
  let traceback = "";
  let result = null;
  let compiled = null;
  try {
    compiled = compile(source, "main.py", "exec");
  } catch (error) {
    const { type, text } = failure(error);
    status = type === "SyntaxError" || type === "IndentationError" || type === "TabError" ? "syntax_error" : "error";
    returncode = null;
    traceback = text;
  }
  if (compiled !== null) {
    const namespace = newDict();
    namespace.set("__name__", callName === null ? "__main__" : "candidate");
    const namespacePointer = C.pointerOf(namespace);
    try {
      execute(compiled, namespace);
      if (callName !== null) result = runCases(namespacePointer, callName, cases);
    } catch (error) {
      const { type, text } = failure(error);
      if (type === "SystemExit") {
        // The exit code is the code's own claim about itself; it can only choose ok or error.
        const last = trimEnd(text);
        const clean = endsWith(last, "SystemExit") || endsWith(last, "SystemExit: 0") || endsWith(last, "SystemExit: None");
        returncode = clean ? 0 : 1;
        status = returncode === 0 ? "ok" : "error";
        traceback = returncode === 0 ? "" : text;
      } else {
        status = type === "MemoryError" ? "memory" : "error";
        returncode = 1;
        traceback = text;
      }
    }
  }
  out.flush();
  err.flush();
  post(["done", status, returncode, traceback, result]);
};
post(["loaded"]);
