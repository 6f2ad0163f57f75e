/**
 * Goal: a JSON body that names a key twice in one object is refused, naming the key, and no other
 * body is (src/http/hostile.ts). Property: any JSON value serialised as-is passes; the same text
 * with one member of one object repeated fails and names that member.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { assertNoDuplicateKeys } from "../../src/http/hostile.ts";
import { ApiError } from "../../src/platform/errors.ts";

function refusal(text: string): ApiError | null {
  try {
    assertNoDuplicateKeys(text, JSON.parse(text));
    return null;
  } catch (error) {
    assert.ok(error instanceof ApiError);
    return error;
  }
}

// Keys and values with quotes, backslashes, colons and braces inside strings.
const tricky = fc.oneof(
  fc.string(),
  fc.constantFrom('"', "\\", '\\"', ":", '":', "{", "}", "[", ",", "\\\\"),
);
const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.integer(),
    tricky,
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 4 }),
    tie("object"),
  ),
  object: fc.dictionary(
    tricky.filter((k) => k !== "__proto__"),
    tie("value"),
    { maxKeys: 5 },
  ),
}));

test("property: every serialised JSON value passes, whatever its strings hold", () => {
  fc.assert(
    fc.property(json.value, (value) => {
      assert.equal(refusal(JSON.stringify(value)), null);
      assert.equal(refusal(JSON.stringify(value, null, 2)), null);
    }),
  );
});

test("property: one member repeated in an object is refused, naming its path", () => {
  fc.assert(
    fc.property(
      json.object.filter((o) => Object.keys(o).length > 0),
      fc.nat(),
      fc.constantFrom("", "outer"),
      (object, pick, wrap) => {
        const keys = Object.keys(object);
        const key = keys[pick % keys.length]!;
        const member = `${JSON.stringify(key)}: ${JSON.stringify(object[key])}`;
        const inner = `{${member}, ${JSON.stringify(object).slice(1)}`;
        const text = wrap ? `{"${wrap}": [1, ${inner}]}` : inner;
        const error = refusal(text);
        assert.ok(error, text);
        assert.equal(error.code, "parameter_invalid");
        const expected = wrap ? (/^\d+$/.test(key) ? `outer[1][${key}]` : `outer[1].${key}`) : key;
        assert.equal(error.param, /^\d+$/.test(key) && !wrap ? `[${key}]` : expected);
      },
    ),
  );
});

test("escaped spellings of one name are one key; a key in sibling objects or inside a string is not repeated", () => {
  assert.equal(refusal('{"a": 1, "\\u0061": 2}')?.param, "a");
  assert.equal(refusal('{"x": {"a": 1}, "y": {"a": 1}, "z": [{"a": 1}, {"a": 2}]}'), null);
  assert.equal(refusal('{"a": "\\"a\\": 1", "b": "{\\"b\\": 2}"}'), null);
  assert.equal(refusal('[{"a": 1}, {"b": 1, "b": 2}]')?.param, "[1].b");
});
