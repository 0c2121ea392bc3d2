/** Exit codes shared by the controller, children and the Python worker (see PROTOCOL.md). */
export const ExitCode = {
  OK: 0,
  CRASH: 1,
  CONFIG_ERROR: 2,
  APP_LOAD_ERROR: 3,
  ENV_ERROR: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
