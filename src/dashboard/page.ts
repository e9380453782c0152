/** The web app's page: a shell that loads the bundled app (no inline script: the CSP allows only 'self'). */
export function dashboardPage(projectName: string): string {
  const title = projectName.replace(/[^a-z0-9_.-]/gi, '');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Reprise: ${title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/app.css">
</head>
<body><div id="app"><p>Loading the Reprise dashboard…</p></div>
<script type="module" src="/assets/app.js"></script>
</body></html>
`;
}
