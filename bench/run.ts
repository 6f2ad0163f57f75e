export async function runBench(_args: string[]): Promise<void> {
  throw new Error("the benchmark is not written yet");
}
