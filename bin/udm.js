#!/usr/bin/env node
// The `udm` command: runs the compiled CLI (npm ci / npm run build compile src/ to dist/).
import { main } from "../dist/src/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
