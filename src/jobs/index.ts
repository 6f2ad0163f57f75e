/** The public entry of jobs/: what other folders may use. */
export type { Job } from "./runner.ts";
