// The web app's half of access and origin, against `next start` and a real
// worker process, over real HTTP and in Debian's Chromium: security headers
// with a per-request CSP nonce, the proxy refusing a foreign page's cookie
// (HALT with no body included), no open redirect from ?next=, no framing by
// another origin, the dashboard's socket.io link working under the policy,
// and the access page creating a user, changing a role and showing both in
// the audit log.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, Page } from "playwright-core";
import { API, type AuditEntry } from "../lib/contract";
import { apiCall, killHard, launchChromium, requireWebBuildAndChromium, startWebApp, startWorkerProcess, tempHome, type WorkerProc } from "./kit";

const WEB_PORT = 16_010;
const WEB = `http://127.0.0.1:${WEB_PORT}`;
const EVIL = "http://127.0.0.1:4100";

describe("web app: headers, origin, redirect, framing, access page", { timeout: 240_000 }, () => {
  let worker: WorkerProc | undefined;
  let web: ChildProcess | undefined;
  let browser: Browser | undefined;
  let framer: http.Server | undefined;
  let framerUrl = "";

  before(async () => {
    requireWebBuildAndChromium();
    worker = await startWorkerProcess(tempHome(), { env: { GAMEDAY_ORIGINS: WEB } });
    web = await startWebApp(WEB_PORT, worker.url);
    // a page of another origin that frames the dashboard
    framer = http.createServer((_req, res) => res.end(`<!doctype html><iframe id="f" src="${WEB}/login" width="800" height="600"></iframe>`));
    await new Promise<void>((r) => framer!.listen(0, "127.0.0.1", r));
    framerUrl = `http://127.0.0.1:${(framer.address() as AddressInfo).port}/`;
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await killHard(web);
    await worker?.stop();
    framer?.closeAllConnections();
    framer?.close();
  });

  async function browserLogin(page: Page, next = ""): Promise<void> {
    await page.goto(`${WEB}/login${next}`);
    await page.fill("input[name=username]", "admin");
    await page.fill("input[name=password]", "test-admin-pw");
    await page.click("[data-testid=login-submit]");
  }

  test("pages and API answers carry the security headers; each page its own CSP nonce", async () => {
    const nonces = new Set<string>();
    for (const p of ["/login", "/", "/admin", "/api/config"]) {
      const r = await fetch(WEB + p);
      await r.arrayBuffer();
      const csp = r.headers.get("content-security-policy") ?? "";
      assert.match(csp, /frame-ancestors 'none'/, p);
      assert.match(csp, /object-src 'none'/, p);
      assert.match(csp, /script-src 'self' 'nonce-[\w+/=]+' 'strict-dynamic'/, p);
      assert.ok(csp.includes(`ws://127.0.0.1:${new URL(worker!.url).port}`), `${p}: connect-src names the worker's socket: ${csp}`);
      nonces.add(/'nonce-([^']+)'/.exec(csp)![1]);
      assert.equal(r.headers.get("x-content-type-options"), "nosniff", p);
      assert.equal(r.headers.get("referrer-policy"), "same-origin", p);
      assert.equal(r.headers.get("x-frame-options"), "DENY", p);
    }
    assert.equal(nonces.size, 4, "a nonce is reused");
    const html = await (await fetch(`${WEB}/login`)).text();
    const csp = /nonce="([^"]+)"/.exec(html);
    assert.ok(csp, "Next.js put no nonce on its scripts");
  });

  test("through the proxy: a session cookie from a foreign page, or a mutation without Origin, is refused; the dashboard's page is not", async () => {
    const login = await fetch(`${WEB}${API.login}`, { method: "POST", headers: { "content-type": "application/json", origin: WEB }, body: JSON.stringify({ username: "admin", password: "test-admin-pw" }) });
    assert.equal(login.status, 200);
    const set = login.headers.getSetCookie()[0];
    assert.match(set, /SameSite=Strict/);
    const cookie = set.split(";")[0];
    const halt = (headers: Record<string, string>) => fetch(`${WEB}${API.halt}`, { method: "POST", headers: { cookie, ...headers } });
    for (const origin of [EVIL, "http://evil.example", "null"]) {
      const r = await halt({ origin });
      assert.equal(r.status, 403, origin);
      assert.match(((await r.json()) as { error: string }).error, /not trusted/);
    }
    assert.equal((await halt({})).status, 403, "HALT by cookie without Origin");
    assert.equal((await fetch(`${WEB}${API.runs}`, { headers: { cookie, origin: EVIL } })).status, 403, "a read by a foreign page's cookie");
    assert.equal((await halt({ origin: WEB })).status, 200, "the dashboard may HALT");
    const foreignLogin = await fetch(`${WEB}${API.login}`, { method: "POST", headers: { "content-type": "application/json", origin: EVIL }, body: JSON.stringify({ username: "admin", password: "test-admin-pw" }) });
    assert.equal(foreignLogin.status, 403, "a login from a foreign page");

    const { body } = await apiCall<{ events: AuditEntry[] }>(worker!, "GET", `${API.audit}?action=halt`);
    assert.deepEqual(body.events.map((e) => [e.actor, e.origin, e.ok]), [["admin", WEB, true]], "only the trusted HALT reached the worker, with its origin");
    assert.match(body.events[0].address ?? "", /127\.0\.0\.1/);
  });

  test("a client's own X-Forwarded-For does not become its address (audit log, per-address login limits)", async () => {
    const spoofed = "203.0.113.77";
    const r = await fetch(`${WEB}${API.login}`, { method: "POST", headers: { "content-type": "application/json", origin: WEB, "x-forwarded-for": spoofed }, body: JSON.stringify({ username: "xff-probe", password: "wrong-password" }) });
    assert.equal(r.status, 401);
    const { body } = await apiCall<{ events: AuditEntry[] }>(worker!, "GET", `${API.audit}?action=login-failed`);
    const mine = body.events.filter((e) => e.actor === "xff-probe");
    assert.equal(mine.length, 1, JSON.stringify(body.events));
    assert.equal(mine[0].address, "127.0.0.1", "the address is the web app's peer, not the header the client wrote");
  });

  test("?next= sends the user only to a path on this origin (/%09/evil.com and friends)", async () => {
    const page = await browser!.newPage();
    try {
      await browserLogin(page, "?next=/%09/evil.com");
      await page.waitForURL(`${WEB}/`, { timeout: 15_000 });
      for (const next of ["?next=//evil.com", "?next=/%5Cevil.com", "?next=/.//evil.com", "?next=https://evil.com/"]) {
        await page.goto(`${WEB}/login${next}`);
        // logged in already: the login page sends the user on at once
        await page.waitForURL(`${WEB}/`, { timeout: 15_000 });
        assert.equal(new URL(page.url()).origin, WEB, next);
      }
      await page.goto(`${WEB}/login?next=%2Fadmin`);
      await page.waitForURL(`${WEB}/admin`, { timeout: 15_000 });
    } finally {
      await page.close();
    }
  });

  test("the dashboard runs under its CSP with the socket live; another origin cannot frame it", async () => {
    const page = await browser!.newPage();
    const violations: string[] = [];
    page.on("console", (m) => /Content Security Policy|Refused to/i.test(m.text()) && violations.push(m.text()));
    try {
      await browserLogin(page);
      await page.waitForURL(`${WEB}/`, { timeout: 15_000 });
      await page.waitForFunction(() => document.querySelector("[data-testid=live-status]")?.textContent?.includes("live"), null, { timeout: 15_000 });
      assert.deepEqual(violations, [], "the policy blocked part of the dashboard");

      await page.goto(framerUrl);
      await page.waitForTimeout(1500);
      const framed = page.frames().filter((f) => f !== page.mainFrame());
      assert.equal(framed.length, 1);
      const loginInFrame = await framed[0].$("[data-testid=login-submit]").catch(() => null);
      assert.equal(loginInFrame, null, `the dashboard rendered inside ${framerUrl} (frame at ${framed[0].url()})`);
    } finally {
      await page.close();
    }
  });

  test("an open dashboard follows a role change at once (HALT disabled, no reload), and revoking its session drops the live link", async () => {
    const made = await apiCall(worker!, "POST", API.users, { username: "opal", password: "opal-password", role: "operator" });
    assert.equal(made.status, 201);
    const ctx = await browser!.newContext();
    const page = await ctx.newPage();
    try {
      await page.goto(`${WEB}/login`);
      await page.fill("input[name=username]", "opal");
      await page.fill("input[name=password]", "opal-password");
      await page.click("[data-testid=login-submit]");
      await page.waitForURL(`${WEB}/`, { timeout: 15_000 });
      await page.waitForFunction(() => document.querySelector("[data-testid=live-status]")?.textContent?.includes("live"), null, { timeout: 15_000 });
      assert.equal(await page.isDisabled("[data-testid=halt]"), false, "an operator's HALT");
      assert.equal((await apiCall(worker!, "PATCH", API.user("opal"), { role: "viewer" })).status, 200);
      await page.waitForSelector("[data-testid=halt]:disabled", { timeout: 5000 });
      assert.match((await page.textContent("[data-testid=user]")) ?? "", /viewer/);

      // the session ends elsewhere (an admin, another tab): the socket goes at once
      const cookie = (await ctx.cookies()).find((c) => c.name === "gameday_session")!;
      assert.equal(cookie.sameSite, "Strict");
      const out = await fetch(`${WEB}${API.logout}`, { method: "POST", headers: { cookie: `${cookie.name}=${cookie.value}`, origin: WEB } });
      assert.equal(out.status, 200);
      await page.waitForFunction(() => !document.querySelector("[data-testid=live-status]")?.textContent?.includes("live"), null, { timeout: 5000 });
    } finally {
      await ctx.close();
    }
  });

  test("the access page: an admin creates a user, changes its role, creates a token; the audit log shows it", async () => {
    const page = await browser!.newPage();
    try {
      await browserLogin(page, "?next=/admin");
      await page.waitForURL(`${WEB}/admin`, { timeout: 15_000 });
      await page.fill("[data-testid=user-create] input[name=username]", "vicky");
      await page.fill("[data-testid=user-create] input[name=password]", "vicky-password");
      await page.selectOption("[data-testid=user-create] select[name=role]", "viewer");
      await page.click("[data-testid=user-create] button");
      await page.waitForSelector("[data-testid=user-vicky]", { timeout: 10_000 });
      await page.selectOption("[data-testid=role-vicky]", "operator");
      await page.waitForFunction(() => [...document.querySelectorAll("[data-testid=audit-row]")].some((r) => r.textContent?.includes("user-role") && r.textContent.includes("vicky")), null, { timeout: 10_000 });
      const rows = await page.$$eval("[data-testid=audit-row]", (rs) => rs.map((r) => r.textContent ?? ""));
      assert.ok(rows.some((r) => r.includes("user-create") && r.includes("vicky") && r.includes(WEB)), rows.join("\n"));
      await page.fill("[data-testid=token-create] input[name=name]", "from-the-page");
      await page.click("[data-testid=token-create] button");
      const secret = (await page.textContent("[data-testid=token-secret]", { timeout: 10_000 }))!.trim();
      assert.equal((await fetch(worker!.url + API.me, { headers: { authorization: `Bearer ${secret}` } })).status, 200, "the new token works");
      const users = await apiCall<{ users: { username: string; role: string }[] }>(worker!, "GET", API.users);
      assert.equal(users.body.users.find((u) => u.username === "vicky")?.role, "operator");
    } finally {
      await page.close();
    }
  });
});
