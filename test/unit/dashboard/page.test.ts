import { describe, expect, it } from 'vitest';
import { dashboardPage } from '../../../src/dashboard/page.js';

describe('dashboardPage', () => {
  it('loads the bundled app from this server only, with no inline script (the CSP forbids one)', () => {
    const page = dashboardPage('demo');
    expect(page).toContain('<script type="module" src="/assets/app.js"></script>');
    expect(page).not.toMatch(/<script>|<script [^>]*>[^<]/);
    expect(page).not.toMatch(/https?:\/\//);
  });

  it('keeps the project name out of markup', () => {
    expect(dashboardPage('<img src=x onerror=alert(1)>')).toContain('<title>Reprise: imgsrcxonerroralert1</title>');
  });
});
