#!/usr/bin/env node
// oclif checks package.json's engines with semver on every start, ~15 ms of loading semver
// alone: the same check is made here for the one form this package uses (>=MAJOR.MINOR).
import { createRequire } from 'node:module';

const wanted = /^>=(\d+)\.(\d+)$/.exec(createRequire(import.meta.url)('../package.json').engines?.node ?? '');
const [major, minor] = process.versions.node.split('.').map(Number);
if (wanted && (major < Number(wanted[1]) || (major === Number(wanted[1]) && minor < Number(wanted[2])))) {
  process.emitWarning(`Node version must be ${wanted[0]} to use this CLI. Current node version: ${process.versions.node}`);
}
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1';
// The build's one-file bundle of @oclif/core (scripts/bundle-cli.js), which the commands import too.
const { execute } = await import('../dist/oclif-core.js');
await execute({ dir: import.meta.url });
