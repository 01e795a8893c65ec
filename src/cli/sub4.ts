// The sub4 command line: the same engine as the studio, headless on Dawn.
// One file per command; this one dispatches and turns errors into plain words
// and exit codes (1 for failures, 2 for usage errors).
import { UsageError, parseCommand, type Command } from './args.ts';
import { gpuCommand } from './gpu.ts';
import { inspectCommand } from './inspect.ts';
import { convertCommand } from './convert.ts';
import { evalCommand } from './eval.ts';
import { imatrixCommand } from './imatrix.ts';
import { generateCommand } from './generate.ts';
import { tuneCommand } from './tune.ts';
import { exportCommand } from './export.ts';
import { resolveHubArgs } from './hub_path.ts';

const COMMANDS: Command[] = [gpuCommand, inspectCommand, convertCommand, evalCommand, imatrixCommand, generateCommand, tuneCommand, exportCommand];

function help(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'sub4 — fine-tune sub-4-bit quantized Llama-family models on WebGPU',
    '',
    'usage: sub4 <command> [options]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    'Run "sub4 <command> --help" for a command\'s options.',
    'Any input path may be an hf://owner/repo[/file] address (HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE as for the Hub\'s clients).',
    'Without a GPU, sub4 uses SwiftShader (software Vulkan) from Debian\'s chromium package when present.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  try {
    if (!cmd) throw new UsageError(`unknown command "${name}"\n\n${help()}`);
    const parsed = parseCommand(cmd, rest);
    if (parsed.values.help) {
      console.log(cmd.usage);
      return 0;
    }
    // hf://owner/repo[/file] arguments become local paths in the Hub cache before the command sees them.
    const { values, positionals } = await resolveHubArgs(parsed.values, parsed.positionals);
    return await cmd.run(values, positionals);
  } catch (e) {
    const err = e as Error;
    if (err instanceof UsageError) {
      console.error(`sub4: ${err.message}`);
      return 2;
    }
    console.error(`sub4 ${name}: ${err.name}: ${err.message}`);
    if (process.env.SUB4_DEBUG) console.error(err.stack);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
