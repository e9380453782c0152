// Debian's headless Chromium driven by playwright-core (no browser download at test time).
import { chromium, type Browser } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.REPRISE_CHROMIUM ?? '/usr/bin/chromium',
    // The closed network refuses Chromium's own background connections; keep it from trying.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Where tests keep screenshots (REPRISE_TEST_ARTIFACTS, else a temp folder); returns the file. */
export function artifactPath(name: string): string {
  const dir = process.env.REPRISE_TEST_ARTIFACTS ?? join(tmpdir(), 'reprise-test-artifacts');
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}
