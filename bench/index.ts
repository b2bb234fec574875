/**
 * `npm run bench -- <gemm|train|serve|scale> [--json]`: prints a table, or with --json exactly one JSON object.
 */
import { benchGemm, printGemm } from './gemm.js';
import { benchScale, printScale } from './scale.js';
import { benchServe, printServe } from './serve.js';
import { benchTrain, printTrain } from './train.js';

const benches: Record<string, { run: () => Promise<Record<string, unknown>>; print: (r: Record<string, unknown>) => void }> = {
  gemm: { run: benchGemm, print: printGemm },
  train: { run: benchTrain, print: printTrain },
  serve: { run: benchServe, print: printServe },
  scale: { run: benchScale, print: printScale },
};

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const names = args.filter((a) => !a.startsWith('--'));
  const chosen = names.length ? names : Object.keys(benches);
  for (const name of chosen) {
    if (!benches[name]) {
      console.error(`unknown benchmark '${name}'; choose from ${Object.keys(benches).join(', ')}`);
      process.exit(2);
    }
  }
  const results: Record<string, unknown> = {};
  for (const name of chosen) {
    const result = await benches[name]!.run();
    if (json) results[name] = result;
    else benches[name]!.print(result);
  }
  if (json) console.log(JSON.stringify(chosen.length === 1 ? results[chosen[0]!] : results));
}

await main();
