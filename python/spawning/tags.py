"""Message tags of the worker channel and its limits.

The same names and numbers as protocol/worker-messages.ts (WorkerTag,
INITIAL_WINDOW) and protocol/frame-codec.ts (MAX_FRAME);
test/protocol/shared-constants.test.ts fails when they differ.
"""

# child -> worker
REQUEST = 1
BODY = 2
BODY_END = 3
ABORT = 4
WINDOW_RESPONSE = 5
SHUTDOWN = 6
FILE_OPENED = 7
# worker -> child
READY = 16
LOAD_ERROR = 17
START = 18
CHUNK = 19
END = 20
RESPONSE = 21
FILE = 22
FAIL = 23
WINDOW_BODY = 24
MODULES = 25
EARLY_HINTS = 26

INITIAL_WINDOW = 256 * 1024
MAX_FRAME = 64 * 1024 * 1024
