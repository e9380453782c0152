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

/** The last "Step N/M : ..." of a docker build log. */
export function lastBuildStep(log: string): { step: number; total: number; text: string } | undefined {
  const matches = [...log.matchAll(/^Step (\d+)\/(\d+) : (.*)$/gm)];
  const m = matches.at(-1);
  return m ? { step: Number(m[1]), total: Number(m[2]), text: m[3]! } : undefined;
}
