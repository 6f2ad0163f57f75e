/**
 * Goal: every connector passes the same named scenarios against the carrier network simulator,
 * over real loopback sockets (HTTP and SMPP) and a real settlement folder.
 */
import { after, before, describe, it } from "node:test";
import { closeConnectors } from "../../src/connectors/operators/index.ts";
import { type ConformanceFixture, scenariosFor } from "../../src/connectors/sdk/conformance.ts";
import {
  cardFixture,
  operatorFixture,
  rememberSimulatorUrl,
  startTestSimulator,
} from "./support/fixtures.ts";

const sim = await startTestSimulator(11);
rememberSimulatorUrl(sim.httpUrl);

/** Operators chosen to cover every protocol and every configured quirk. */
const OPERATORS = [
  "47001", // OneAPI, HTTP Basic, JSON
  "61203", // OneAPI, OAuth2 client credentials
  "51502", // OneAPI, v1 form encoding
  "21407", // CAMARA, Basic, caps
  "20801", // CAMARA, OAuth2
  "63601", // Parlay X, Huawei MD5 header, v3_1 namespaces, "Birr", no tel: prefix
  "42003", // Parlay X, WS-Security UsernameToken, Mobily codes
  "60202", // Parlay X, HTTP Basic, spec namespaces
  "62130", // SMPP 3.4
  "41001", // settlement files
];

const fixtures: ConformanceFixture[] = [...OPERATORS.map((id) => operatorFixture(sim, id)), cardFixture(sim)];

after(async () => {
  for (const f of fixtures) await f.connector.close();
  await closeConnectors();
  await sim.close();
});

for (const f of fixtures) {
  describe(`conformance ${f.name}`, () => {
    before(() => rememberSimulatorUrl(sim.httpUrl));
    for (const s of scenariosFor(f.connector)) {
      it(s.name, () => s.run(f));
    }
  });
}
