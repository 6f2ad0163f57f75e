/**
 * `npm run sdk:generate`: regenerates packages/sdk/src/schema.ts from the document the server
 * serves. test/sdk/sdk.test.ts fails when the committed file differs from a fresh generation.
 */
import { writeFileSync } from "node:fs";
import { servedDocument } from "../../../test/support/openapi.ts";
import { typesOf } from "./types.ts";

const target = new URL("../src/schema.ts", import.meta.url);
writeFileSync(target, await typesOf(await servedDocument()));
console.log(`wrote ${target.pathname}`);
