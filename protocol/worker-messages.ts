/** Messages of the worker channel (child ↔ Python worker). See PROTOCOL.md. */

export const WorkerTag = {
  // child -> worker
  REQUEST: 1,
  BODY: 2,
  BODY_END: 3,
  ABORT: 4,
  WINDOW_RESPONSE: 5,
  SHUTDOWN: 6,
  FILE_OPENED: 7,
  // worker -> child
  READY: 16,
  LOAD_ERROR: 17,
  START: 18,
  CHUNK: 19,
  END: 20,
  RESPONSE: 21,
  FILE: 22,
  FAIL: 23,
  WINDOW_BODY: 24,
  MODULES: 25,
  EARLY_HINTS: 26,
} as const;

/** Each direction of each request starts with this many bytes of credit. */
export const INITIAL_WINDOW = 256 * 1024;

export type Environ = Record<string, string>;
/** Flat list: name, value, name, value, ... */
export type HeaderList = string[];

export interface LoadError {
  kind: string;
  message: string;
  where: string;
  traceback: string;
}

/** A load error as one log line: the message, then where (file:line) when known. */
export const loadErrorLine = (e: LoadError): string => `${e.message}${e.where ? ` (${e.where})` : ''}`;

export interface WorkerInfo {
  pid: number;
  python: string;
  threads: number;
  app: string;
  factory: string;
}

export type ToWorker =
  | [typeof WorkerTag.REQUEST, number, Environ, boolean]
  | [typeof WorkerTag.BODY, number, Uint8Array]
  | [typeof WorkerTag.BODY_END, number]
  | [typeof WorkerTag.ABORT, number]
  | [typeof WorkerTag.WINDOW_RESPONSE, number, number]
  | [typeof WorkerTag.SHUTDOWN]
  | [typeof WorkerTag.FILE_OPENED, number];

/**
 * Frames about one request: the second element is its id. A new worker frame
 * goes into exactly one of these two unions; the WorkerSet routes by them and
 * its switch fails to compile when a tag is in neither.
 */
export type ResponseFrame =
  | [typeof WorkerTag.START, number, string, HeaderList]
  | [typeof WorkerTag.CHUNK, number, Uint8Array]
  | [typeof WorkerTag.END, number]
  | [typeof WorkerTag.RESPONSE, number, string, HeaderList, Uint8Array]
  /** id, the worker's descriptor (opened here through /proc/<worker pid>/fd/<n>), offset, length (-1: to EOF). */
  | [typeof WorkerTag.FILE, number, number, number, number]
  | [typeof WorkerTag.FAIL, number, string]
  | [typeof WorkerTag.WINDOW_BODY, number, number]
  | [typeof WorkerTag.EARLY_HINTS, number, HeaderList];

/**
 * A source file the worker imported (its real path), and its identity when the
 * import read it: `ino:size:mtime_ns`, or null when the import was not seen.
 */
export type ModuleFile = [path: string, loaded: string | null];

/** Frames about the worker process itself. */
export type WorkerStatusFrame =
  | [typeof WorkerTag.READY, WorkerInfo]
  | [typeof WorkerTag.LOAD_ERROR, LoadError]
  | [typeof WorkerTag.MODULES, ModuleFile[]];

export type FromWorker = WorkerStatusFrame | ResponseFrame;
