/** A progress bar on a TTY, plain lines (one per stage and tenth) otherwise, on stderr. */
export function progressReporter(stream: NodeJS.WriteStream = process.stderr): { update(stage: string, fraction: number): void; done(): void } {
  const tty = Boolean(stream.isTTY);
  let lastStage = '';
  let lastTenth = -1;
  const started = Date.now();
  return {
    update(stage, fraction) {
      const pct = Math.round(Math.min(1, Math.max(0, fraction)) * 100);
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      if (tty) {
        const width = 30;
        const filled = Math.round((pct / 100) * width);
        // one line per stage: a finished stage stays on screen, the current one redraws in place
        if (stage !== lastStage && lastStage) stream.write('\n');
        stream.write(`\r${stage.padEnd(7)} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(pct).padStart(3)}%  ${secs}s`);
      } else {
        const tenth = Math.floor(pct / 10);
        if (stage !== lastStage || tenth !== lastTenth) stream.write(`${stage} ${pct}% (${secs}s)\n`);
        lastTenth = tenth;
      }
      lastStage = stage;
    },
    done() {
      if (tty) stream.write('\n');
    },
  };
}
