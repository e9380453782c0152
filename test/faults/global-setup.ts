// The faults suite's table: rows are appended by each file's trials (test/faults/harness.ts);
// this prints them as one table at the end and writes it to the report file.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { faultTable, outputDir, reportFile, TRIALS, type TrialRow } from './report.js';

export function setup(): void {
  mkdirSync(outputDir, { recursive: true });
  process.env.REPRISE_FAULT_ROWS = join(outputDir, `rows-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}.jsonl`);
}

export function teardown(): void {
  const rowsFile = process.env.REPRISE_FAULT_ROWS;
  if (!rowsFile || !existsSync(rowsFile)) return; // no fault trial ran (another project's run)
  const rows = readFileSync(rowsFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as TrialRow);
  const table = faultTable(rows);
  const text = `# Faults suite (REPRISE_FAULT_TRIALS=${TRIALS}), ${new Date().toISOString()}\n\n${table}\n`;
  mkdirSync(dirname(reportFile), { recursive: true });
  writeFileSync(reportFile, text);
  process.stdout.write(`\n${text}\nreport: ${reportFile}\nrows: ${rowsFile}\n`);
}
