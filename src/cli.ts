/**
 * `spawning`: --help and --version, the subcommands (src/commands/), or the
 * server (src/runtime/boot.ts). Every error ends here, as one line.
 */
import { printConfig, resolveArgs } from './config/layers.js';
import { helpText } from './config/parse-args.js';
import { SpawningError } from './errors.js';
import { boot, checkConfig, log, version } from './runtime/boot.js';

async function main(argv: string[]): Promise<number> {
  // Imported on use: the server process needs neither (xstate/graph, the NATS client).
  if (argv[0] === 'machines') return (await import('./commands/machines.js')).machinesCommand(argv.slice(1), (text) => process.stdout.write(text));
  if (argv[0] === 'fleet') return (await import('./commands/fleet.js')).fleetCommand(argv.slice(1), { out: (text) => process.stdout.write(text), log });
  const parsed = resolveArgs(argv);
  if (parsed.settings.help) {
    process.stdout.write(helpText(version()));
    return 0;
  }
  if (parsed.settings.version) {
    process.stdout.write(`spawning ${version()}\n`);
    return 0;
  }
  if (parsed.settings.printConfig) {
    process.stdout.write(printConfig(parsed));
    return 0;
  }
  if (parsed.settings.checkConfig) return checkConfig(parsed);
  return boot(argv, parsed);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof SpawningError) {
      log(err.format());
      process.exit(err.exitCode);
    }
    log(`spawning: internal error: ${err instanceof Error ? err.message : String(err)} [SPAWNING_ERR_INTERNAL]`);
    process.exit(1);
  },
);
