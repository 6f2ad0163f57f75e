/** The public entry of commit/: what other folders may use. */
export { GroupCommitter } from "./group-commit.ts";
