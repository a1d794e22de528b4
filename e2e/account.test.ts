// The access page's own-password form in Debian's Chromium, against `next
// start` and a real worker process: a viewer changes their password on
// /admin, is told so, and from then on only the new password logs in; a
// wrong current password is shown as an error and changes nothing.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import type { Browser } from "playwright-core";
import { API } from "../lib/contract";
import { apiCall, killHard, launchChromium, requireWebBuildAndChromium, startWebApp, startWorkerProcess, tempHome, type WorkerProc } from "./kit";

const WEB_PORT = 17_740;
const WEB = `http://127.0.0.1:${WEB_PORT}`;

describe("web app: your own password on /admin", { timeout: 180_000 }, () => {
  let worker: WorkerProc | undefined;
  let web: ChildProcess | undefined;
  let browser: Browser | undefined;

  before(async () => {
    requireWebBuildAndChromium();
    worker = await startWorkerProcess(tempHome(), { env: { GAMEDAY_ORIGINS: WEB } });
    web = await startWebApp(WEB_PORT, worker.url);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await killHard(web);
    await worker?.stop();
  });

  const login = (password: string) =>
    fetch(`${WEB}${API.login}`, { method: "POST", headers: { "content-type": "application/json", origin: WEB }, body: JSON.stringify({ username: "val", password }) }).then((r) => r.status);

  test("a viewer changes their own password on the page; a wrong current one is an error there", async () => {
    assert.equal((await apiCall(worker!, "POST", API.users, { username: "val", password: "val-password", role: "viewer" })).status, 201);
    const page = await browser!.newPage();
    try {
      await page.goto(`${WEB}/login?next=%2Fadmin`);
      await page.fill("input[name=username]", "val");
      await page.fill("input[name=password]", "val-password");
      await page.click("[data-testid=login-submit]");
      await page.waitForURL(`${WEB}/admin`, { timeout: 15_000 });
      assert.equal(await page.isVisible("[data-testid=users]"), false, "a viewer sees no user list");

      const form = "[data-testid=password-change]";
      await page.fill(`${form} input[name=currentPassword]`, "not-my-password");
      await page.fill(`${form} input[name=newPassword]`, "val-new-password");
      await page.fill(`${form} input[name=repeat]`, "val-new-password");
      await page.click(`${form} button`);
      const alert = await page.waitForSelector("[data-testid=password] [role=alert]", { timeout: 10_000 });
      assert.match((await alert.textContent()) ?? "", /currentPassword: is not your current password/);
      assert.equal(await login("val-password"), 200, "nothing changed");

      await page.fill(`${form} input[name=currentPassword]`, "val-password");
      await page.fill(`${form} input[name=newPassword]`, "val-new-password");
      await page.fill(`${form} input[name=repeat]`, "val-new-password");
      await page.click(`${form} button`);
      const done = await page.waitForSelector("[data-testid=password-done]", { timeout: 10_000 });
      // the login just above made one more session, which the change ended
      assert.match((await done.textContent()) ?? "", /Password changed\. 1 other session\(s\) ended; 0 API token\(s\) kept/);
      assert.equal(await login("val-password"), 401, "the old password");
      assert.equal(await login("val-new-password"), 200, "the new password");
      // the page's own session stays
      await page.reload();
      await page.waitForSelector("[data-testid=password-change]", { timeout: 10_000 });
      assert.equal(new URL(page.url()).pathname, "/admin");
    } finally {
      await page.close();
    }
  });
});
