import cliProgress from 'cli-progress';

/** Build progress on stderr: a bar on a TTY, one line per step otherwise. */
export class StepProgress {
  private bar?: cliProgress.SingleBar;
  private lastStep = 0;

  constructor(private readonly label: string, private readonly enabled = true) {}

  update(step: number, total: number, text: string): void {
    if (!this.enabled || step === this.lastStep) return;
    this.lastStep = step;
    const line = text.length > 60 ? text.slice(0, 57) + '...' : text;
    if (process.stderr.isTTY) {
      if (!this.bar) {
        this.bar = new cliProgress.SingleBar(
          { format: `${this.label} [{bar}] step {value}/{total} {line}`, stream: process.stderr, clearOnComplete: false, hideCursor: true },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(total, 0, { line });
      }
      this.bar.setTotal(total);
      this.bar.update(step, { line });
    } else {
      process.stderr.write(`${this.label}: step ${step}/${total} ${line}\n`);
    }
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

/** Image transfer progress on stderr: a bar in MiB on a TTY, a line when each transfer starts and ends otherwise. */
export class TransferBar {
  private bar?: cliProgress.SingleBar;
  private what?: string;
  private done = false;

  constructor(private readonly enabled = true) {}

  update(p: { what: string; current: number; total: number }): void {
    if (!this.enabled) return;
    if (p.what !== this.what) {
      this.stop();
      this.what = p.what;
      this.done = false;
      if (!process.stderr.isTTY) process.stderr.write(`${p.what}: ${mib(p.total)} MiB\n`);
    }
    if (process.stderr.isTTY) {
      this.bar ??= new cliProgress.SingleBar(
        { format: `${p.what} [{bar}] {value}/{total} MiB`, stream: process.stderr, hideCursor: true },
        cliProgress.Presets.shades_classic,
      );
      if (!this.bar.isActive) this.bar.start(Number(mib(p.total)), 0);
      this.bar.setTotal(Number(mib(p.total)));
      this.bar.update(Number(mib(p.current)));
    } else if (p.current >= p.total && !this.done) {
      this.done = true;
      process.stderr.write(`${p.what}: done\n`);
    }
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
