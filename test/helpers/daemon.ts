/** Shared by the --daemonize tests: an app that prints, and the cleanup of what a daemon leaves running. */
import { pidsWithArgument } from './processes.js';

export const PRINTING_APP = `import os
import sys


def app(environ, start_response):
    print("app stdout", environ["PATH_INFO"], flush=True)
    sys.stderr.write(f"app stderr {environ['PATH_INFO']} uid={os.getuid()}\\n")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getuid()).encode()]
`;

/** Kills whatever a daemon test left running: the daemon's group and its log pump. */
export function killDaemonLeftovers(dir: string): void {
  for (const pid of pidsWithArgument(dir)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // not a group leader
    }
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
