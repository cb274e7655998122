// Builds the playground into cnndsl/server/static/: playground.js (src/main.js and the CodeMirror packages,
// minified), playground.css and NOTICE (the licences of the bundled packages).
//
//   cd web && npm ci && npm run build
//
// Both outputs start with the sha256 of their inputs (every file under src/, build.mjs, package-lock.json);
// tests/test_browser.py recomputes it, so a bundle not rebuilt after a source change fails the tests, and the
// tests need no npm.

import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "cnndsl", "server", "static");

// The inputs, as paths relative to web/ with "/" separators, sorted.
function inputs() {
  const walk = (dir) => readdirSync(join(here, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(`${dir}/${entry.name}`) : [`${dir}/${entry.name}`]);
  return [...walk("src"), "build.mjs", "package-lock.json"].sort();
}

// sha256 over, for each input: its path, a NUL byte, its bytes, a NUL byte.
function sourceHash() {
  const hash = createHash("sha256");
  for (const path of inputs()) hash.update(`${path}\0`).update(readFileSync(join(here, path))).update("\0");
  return hash.digest("hex");
}

const banner = `/* cnndsl playground, built by web/build.mjs; sources sha256 ${sourceHash()}. ` +
  "Third-party licences: NOTICE. */";

const result = await build({
  absWorkingDir: here,
  entryPoints: [{ in: "src/main.js", out: "playground" }, { in: "src/playground.css", out: "playground" }],
  outdir: out,
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2020",
  legalComments: "none",
  banner: { js: banner, css: banner },
  metafile: true,
  logLevel: "warning",
});

// NOTICE: each bundled package once, with its licence text.
const packages = new Map();
for (const input of Object.keys(result.metafile.inputs)) {
  const parts = input.split("/");
  const at = parts.lastIndexOf("node_modules");
  if (at < 0) continue;
  const root = join(here, ...parts.slice(0, at + (parts[at + 1].startsWith("@") ? 3 : 2)));
  packages.set(root, JSON.parse(readFileSync(join(root, "package.json"), "utf8")));
}
const licence = (root) => {
  const name = readdirSync(root).find((f) => /^licen[cs]e/i.test(f));
  return name ? readFileSync(join(root, name), "utf8").trim() : "(no licence file in the package)";
};
const notice = [...packages].sort(([, a], [, b]) => a.name.localeCompare(b.name)).map(([root, pkg]) =>
  `${pkg.name} ${pkg.version} (${pkg.license})\n\n${licence(root)}`);
writeFileSync(join(out, "NOTICE"),
  "playground.js bundles these packages (npm), under their licences:\n\n" + notice.join(`\n\n${"-".repeat(72)}\n\n`) + "\n");

for (const [path, { bytes }] of Object.entries(result.metafile.outputs)) console.log(`${path}  ${bytes} bytes`);
