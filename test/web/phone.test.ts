import assert from "node:assert/strict";
import { test } from "node:test";
import { formatPhone } from "../../src/web/index.ts";

test("phone numbers are grouped as their country writes them, country code kept", () => {
  assert.equal(formatPhone("+33612345678"), "+33 6 12 34 56 78");
  assert.equal(formatPhone("+447700900120"), "+44 7700 900120");
  assert.equal(formatPhone("+2250700000120"), "+225 07 00 00 0120");
  assert.equal(formatPhone("+40712345678"), "+40 712 345 678");
  // Not a number libphonenumber reads: shown as given (escaped by the template like any value).
  assert.equal(formatPhone("12"), "12");
  assert.equal(formatPhone("<b>"), "<b>");
});
