/** Exit codes shared by the controller, children and the Python worker (see PROTOCOL.md). */
export const ExitCode = {
  OK: 0,
  CRASH: 1,
  CONFIG_ERROR: 2,
  APP_LOAD_ERROR: 3,
  ENV_ERROR: 4,
  /** `spawning fleet ...` only: NATS unreachable, no member answers, a host could not reload. */
  FLEET_ERROR: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
