// HTML → PDF with Playwright driving Debian's Chromium. One browser is launched
// on first use and shared by every report (a launch costs most of a second);
// it closes itself after a minute without work so an idle worker holds no
// Chromium. A missing Chromium is a ReportError that says how to install it.
// playwright-core is loaded on the first report, not with the worker (it was
// a fifth of a second of every worker start here).
import fs from "node:fs";
import type { Browser } from "playwright-core";
import { config } from "../lib/config";

export const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];
const IDLE_CLOSE_MS = 60_000;
const READY_TIMEOUT_MS = 20_000;

export class ReportError extends Error {}

export function chromiumPath(): string {
  return config().GAMEDAY_CHROMIUM;
}

const FOOTER = `<div style="font-size:7pt;color:#64748b;width:100%;padding:0 14mm;display:flex;font-family:sans-serif">
<span class="title"></span><span style="margin-left:auto">page <span class="pageNumber"></span> of <span class="totalPages"></span></span></div>`;

export class PdfRenderer {
  private browser: Promise<Browser> | null = null;
  private idle: NodeJS.Timeout | null = null;
  private busy = 0;

  constructor(private readonly executablePath = chromiumPath()) {}

  private launch(): Promise<Browser> {
    if (!fs.existsSync(this.executablePath)) {
      throw new ReportError(`Chromium is needed for PDF reports and was not found at ${this.executablePath}: install it with "apt-get install chromium" (Debian/Ubuntu), or set GAMEDAY_CHROMIUM to its path; the HTML report works without it`);
    }
    this.browser ??= import("playwright-core")
      .then(({ chromium }) => chromium.launch({ executablePath: this.executablePath, args: CHROMIUM_ARGS }))
      .then(
        (b) => {
          b.on("disconnected", () => (this.browser = null));
          return b;
        },
        (e: Error) => {
          this.browser = null;
          throw new ReportError(`Chromium at ${this.executablePath} did not start: ${e.message.split("\n")[0]}`);
        },
      );
    return this.browser;
  }

  async version(): Promise<string> {
    return (await this.launch()).version();
  }

  /** A self-contained HTML page (no network needed) → PDF bytes. */
  async pdf(html: string, title: string): Promise<Buffer> {
    this.busy++;
    if (this.idle) clearTimeout(this.idle);
    const browser = await this.launch();
    const context = await browser.newContext({ offline: true });
    try {
      const page = await context.newPage();
      await page.setContent(html, { waitUntil: "load" });
      await page.waitForFunction(() => document.documentElement.dataset.ready === "1", undefined, { timeout: READY_TIMEOUT_MS });
      await page.emulateMedia({ media: "print" });
      return await page.pdf({
        format: "A4",
        printBackground: true,
        preferCSSPageSize: true,
        displayHeaderFooter: true,
        headerTemplate: "<span></span>",
        footerTemplate: FOOTER.replace('<span class="title"></span>', `<span>${title.replace(/[<&]/g, "")}</span>`),
      });
    } finally {
      await context.close().catch(() => undefined);
      if (--this.busy === 0) {
        this.idle = setTimeout(() => void this.close(), IDLE_CLOSE_MS);
        this.idle.unref();
      }
    }
  }

  async close(): Promise<void> {
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    const b = this.browser;
    this.browser = null;
    if (b) await (await b.catch(() => null))?.close().catch(() => undefined);
  }
}
