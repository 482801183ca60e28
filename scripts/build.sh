#!/usr/bin/env bash
# Compiles the production sources to plain JavaScript in dist/ (tsc, tsconfig.build.json): the
# `tinyproto` bin then runs them with plain node. Tests, benchmarks and fixtures are not compiled.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist
npx --no-install tsc -p tsconfig.build.json
# tsc rewrites the sources' relative .ts specifiers to .js in the JavaScript, not in declaration files
find dist -name '*.d.ts' -exec sed -i -E "s#(from |import\\()'(\\.{1,2}/[^']*)\\.ts'#\\1'\\2.js'#g" {} +
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
node -e 'const p=require("./package.json");require("fs").writeFileSync("dist/build.json",JSON.stringify({name:p.name,version:p.version,commit:process.argv[1],builtAt:new Date().toISOString()})+"\n")' "$commit"
echo >&2 "build: dist/ ($(find dist -name '*.js' | wc -l) modules, commit $commit)"
