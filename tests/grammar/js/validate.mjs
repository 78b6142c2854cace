// validate.mjs — validates generated JSON texts against JSON Schemas with ajv (draft 2020-12 plus
// ajv-formats), for tests/grammar/test_constrained.c.
//   node tests/grammar/js/validate.mjs CASES.json
// CASES.json is [{"schema": {...}, "text": "..."}]. Prints one line per case, "ok" or
// "invalid: <reason>", and exits 1 when any case is invalid.
import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
let bad = 0;
for (const c of cases) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  let line;
  try {
    const value = JSON.parse(c.text);
    const validate = ajv.compile(c.schema);
    line = validate(value) ? "ok" : "invalid: " + ajv.errorsText(validate.errors);
  } catch (e) {
    line = "invalid: " + e.message;
  }
  if (line !== "ok") bad++;
  console.log(line);
}
process.exit(bad ? 1 : 0);
