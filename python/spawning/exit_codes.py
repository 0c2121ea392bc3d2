"""Exit codes shared with protocol/exit-codes.ts (test/protocol/shared-constants.test.ts compares them)."""

OK = 0
CRASH = 1
CONFIG_ERROR = 2
APP_LOAD_ERROR = 3
ENV_ERROR = 4
# `spawning fleet ...` only (no Python exits with it): here so the two tables stay the same.
FLEET_ERROR = 5
