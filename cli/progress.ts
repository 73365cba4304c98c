// Progress bars on stderr while a model loads: redrawn in place on a terminal, one line per
// quarter otherwise (logs stay readable).

export class ProgressBar {
  private lastQuarter = -1;
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(
    private readonly label: string,
    private readonly total: number,
  ) {}

  update(done: number): void {
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const width = 30;
    const filled = Math.round(frac * width);
    const text = `${this.label.padEnd(22)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total}`;
    if (this.tty) {
      process.stderr.write(`\r${text}${frac >= 1 ? '\n' : ''}`);
    } else {
      const quarter = Math.floor(frac * 4);
      if (quarter !== this.lastQuarter) {
        this.lastQuarter = quarter;
        process.stderr.write(`${text}\n`);
      }
    }
  }
}
