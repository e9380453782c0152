import { describe, expect, it } from 'vitest';
import { Script } from 'node:vm';
import { dashboardPage } from '../../../src/dashboard/page.js';

describe('dashboardPage', () => {
  it('has an inline script that parses (a raw newline in a string literal once emptied every table)', () => {
    const scripts = [...dashboardPage('demo').matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    expect(scripts.length).toBeGreaterThan(0);
    for (const source of scripts) expect(() => new Script(source)).not.toThrow();
  });
});
