import assert from "node:assert/strict";
import { test } from "node:test";
import { checkPayloads } from "./payload-rules.js";

// Payload sequences as strongSwan 5.9.8 sent them in ../captures (see test/vectors/captures):
// MM1 "SA V V V V V", MM3 "KE No NAT-D NAT-D", MM5 "ID HASH N(INITIAL_CONTACT)",
// QM1 transport "HASH SA No ID ID NAT-OA NAT-OA", INFO "HASH D".
test("real peer's payload sequences pass", () => {
  assert.equal(checkPayloads("MM1", [1, 13, 13, 13, 13, 13], false), undefined);
  assert.equal(checkPayloads("MM3", [4, 10, 20, 20], false), undefined);
  assert.equal(checkPayloads("MM3", [4, 10, 130, 130], false), undefined);
  assert.equal(checkPayloads("MM5", [5, 8, 11], true), undefined);
  assert.equal(checkPayloads("QM1", [8, 1, 10, 5, 5, 21, 21], true), undefined);
  assert.equal(checkPayloads("QM3", [8], true), undefined);
  assert.equal(checkPayloads("INFO", [8, 12], true), undefined);
});

test("violations are typed with the notify to send", () => {
  assert.equal(checkPayloads("MM1", [13], false)?.notify, 16); // no SA
  assert.equal(checkPayloads("MM5", [5, 8], false)?.notify, 16); // MM5 in clear
  assert.equal(checkPayloads("MM5", [5], true)?.notify, 16); // neither HASH nor SIG
  assert.equal(checkPayloads("QM1", [1, 8, 10], true)?.notify, 16); // HASH not first
  assert.equal(checkPayloads("QM1", [8, 1, 10, 5], true)?.notify, 16); // IDs come in pairs
  assert.equal(checkPayloads("QM1", [8, 1, 10, 5, 5, 5], true)?.notify, 16); // three IDs
  assert.equal(checkPayloads("MM2", [1, 4], false)?.notify, 1); // unexpected KE
  assert.equal(checkPayloads("INFO", [8], true)?.notify, 16); // nothing to inform about
});
