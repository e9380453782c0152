import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The deliveries this worker's home has made: one small file per (run, notifier), written once
 * the receiver accepted and read before sending. Together with Temporal's durable retry it makes
 * a notice go out at most once per run and notifier, except in the window between the
 * receiver's "accepted" and this write (docs/notifications.md).
 */
export class DeliveryLedger {
  constructor(private readonly home: string) {}

  private file(id: string, notifier: string): string {
    return join(this.home, 'notifications', id, notifier);
  }

  async delivered(id: string, notifier: string): Promise<{ at: string; answer: string } | undefined> {
    const text = await readFile(this.file(id, notifier), 'utf8').catch(() => undefined);
    return text ? (JSON.parse(text) as { at: string; answer: string }) : undefined;
  }

  async record(id: string, notifier: string, answer: string): Promise<void> {
    await mkdir(join(this.home, 'notifications', id), { recursive: true, mode: 0o700 });
    await writeFile(this.file(id, notifier), JSON.stringify({ at: new Date().toISOString(), answer }) + '\n', { mode: 0o600 });
  }
}
