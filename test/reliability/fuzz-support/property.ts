import fc from 'fast-check';

/** FC_SEED replays a failure; FC_RUNS scales every run count (1 = the committed figures). */
export const FC_SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined;
const SCALE = Number(process.env.FC_SCALE ?? 1);

export function runs(count: number): number {
  return Math.max(1, Math.round(count * SCALE));
}

/**
 * fc.assert with a short report: the seed, the path and the first failure's message, without the
 * counterexample's bytes (a fuzzed body can be tens of kilobytes). Replay with FC_SEED=<seed>.
 */
export async function assertProperty<T extends [unknown, ...unknown[]]>(
  property: fc.IAsyncPropertyWithHooks<T>,
  numRuns: number,
  describe: (...values: T) => string = (...values) => JSON.stringify(values).slice(0, 500),
): Promise<void> {
  const details = await fc.check(property, { numRuns, seed: FC_SEED, endOnFailure: true });
  if (!details.failed) return;
  const example = details.counterexample ? describe(...details.counterexample) : '';
  const reason = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  throw new Error(
    `property failed after ${details.numRuns} runs (seed ${details.seed}, path ${details.counterexamplePath}; ` +
      `replay with FC_SEED=${details.seed})\n${example}\n${reason}`,
  );
}
