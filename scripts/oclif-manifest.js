// Write oclif.manifest.json so the CLI loads only the command it runs (not all of them).
import { Config } from '@oclif/core';
import { rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
await rm(new URL('../oclif.manifest.json', import.meta.url), { force: true });
const config = await Config.load({ root });
const manifest = config.plugins.get(config.pjson.name).manifest;
await writeFile(new URL('../oclif.manifest.json', import.meta.url), JSON.stringify(manifest, null, 2) + '\n');
