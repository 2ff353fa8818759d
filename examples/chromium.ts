import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium (apt-get install -y chromium; .ci/run installs it): never a downloaded browser. */
export const CHROMIUM = '/usr/bin/chromium';
/** Headless and quiet: no background connections to anything (the machine has no network). */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export const haveChromium = () => existsSync(CHROMIUM);

/** A fresh browser with an empty profile of its own (playwright makes one per launch). */
export function launchChromium(): Promise<Browser> {
  if (!haveChromium()) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}
