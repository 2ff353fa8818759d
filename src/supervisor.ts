/**
 * Keeps the local stack's children alive: each is started by a function that resolves once it is
 * ready; when one exits without being asked to, it is started again (with a growing pause if it
 * keeps dying) and the stack says so. Used by `npm start` (stack.ts).
 */
export interface ChildHandle {
  pid: number | undefined;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

export interface Supervised<T extends ChildHandle> {
  /** the running instance (replaced after a restart) */
  readonly current: T;
  /** resolves when the next restart has finished (tests) */
  restarted(): Promise<T>;
  stop(): Promise<void>;
}

export async function supervise<T extends ChildHandle>(name: string, start: () => Promise<T>, log: (line: string) => void = console.log): Promise<Supervised<T>> {
  let current = await start();
  let stopping = false;
  let waiters: Array<(t: T) => void> = [];
  const watch = (child: T) => {
    void child.exited.then(async ({ code, signal }) => {
      if (stopping) return;
      log(`basin: ${name} (pid ${child.pid}) exited (${signal ?? `code ${code}`}); restarting it`);
      for (let attempt = 1; !stopping; attempt++) {
        try {
          current = await start();
          log(`basin: ${name} is back (pid ${current.pid})`);
          watch(current);
          for (const w of waiters.splice(0)) w(current);
          return;
        } catch (err) {
          log(`basin: ${name} did not start (${(err as Error).message.split('\n')[0]}); trying again`);
          await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** attempt)));
        }
      }
    });
  };
  watch(current);
  return {
    get current() {
      return current;
    },
    restarted: () => new Promise<T>((ok) => waiters.push(ok)),
    async stop() {
      stopping = true;
      waiters = [];
      await current.stop();
    },
  };
}
