// gameday user: your own password, and for admins the users — list, reset a
// password, disable (sessions end, tokens are revoked, login is refused; the
// user is kept because runs, notes and the audit log name them) and enable.
// Passwords are never arguments (they would show in ps and the shell's
// history): typed at a hidden prompt, or read line by line from stdin.
import readline from "node:readline";
import { parseArgs } from "node:util";
import { API, type UserRecord } from "../lib/contract";
import { api, CLIENT_OPTIONS, CliError, connection } from "./client";

const USAGE = `gameday user — users and passwords

  gameday user passwd            change your own password (the token's user): asks
                                 for the current and the new one; your other
                                 sessions end, your API tokens are kept
  gameday user list [--json]     users, roles, who is disabled (admin)
  gameday user reset NAME        set another user's password (admin); their
                                 sessions end
  gameday user disable NAME      disable a user (admin): sessions end, tokens are
                                 revoked, login is refused; not yourself, not the
                                 last admin
  gameday user enable NAME       let a disabled user log in again (admin)

Passwords are read from a hidden prompt, or from stdin (one per line: current,
then new for passwd; the new one for reset) when stdin is not a terminal.
Options: --url URL --token TOKEN (as for every gameday command)`;

const out = (s: string) => process.stdout.write(s + "\n");

type Ask = (prompt: string) => Promise<string>;

/** Ask for passwords (lines from stdin, or a prompt that echoes nothing); stdin is let go afterwards. */
async function withPasswords<T>(fn: (ask: Ask) => Promise<T>): Promise<T> {
  if (process.stdin.isTTY) return fn(hiddenPrompt);
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  const lines = rl[Symbol.asyncIterator]();
  try {
    return await fn(async (prompt) => {
      const next = await lines.next();
      if (next.done) throw new CliError(`stdin ended before the ${prompt.replace(/:\s*$/, "")}; nothing changed`);
      return next.value;
    });
  } finally {
    rl.close();
    process.stdin.destroy();
  }
}

function hiddenPrompt(prompt: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    process.stderr.write(prompt);
    // the prompt is written above; what is typed is not echoed
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => undefined;
    rl.question("", (answer) => {
      rl.close();
      process.stderr.write("\n");
      resolve(answer);
    });
  });
}

async function newPassword(ask: Ask): Promise<string> {
  const pw = await ask("new password: ");
  if (process.stdin.isTTY && (await ask("new password again: ")) !== pw) throw new CliError("the two new passwords differ; nothing changed");
  return pw;
}

function row(u: UserRecord): string {
  return `${u.username.padEnd(16)}  ${u.role.padEnd(8)}  ${u.disabledAt ? `disabled ${u.disabledAt.slice(0, 16).replace("T", " ")}` : "active"}  (since ${u.createdAt.slice(0, 10)})`;
}

export async function main(argv: string[]): Promise<number> {
  const { values: f, positionals: pos } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: CLIENT_OPTIONS,
  });
  const [sub, name] = pos;
  if (!sub || f.help) {
    out(USAGE);
    return f.help ? 0 : 1;
  }
  const needName = () => {
    if (!name) throw new CliError(`name the user: gameday user ${sub} NAME (see gameday user list)`);
    return name;
  };
  switch (sub) {
    case "passwd": {
      const conn = connection(f);
      const body = await withPasswords(async (ask) => ({ currentPassword: await ask("current password: "), newPassword: await newPassword(ask) }));
      const r = await api<{ sessionsEnded: number; tokensKept: number }>(conn, "POST", API.password, body);
      out(f.json ? JSON.stringify(r) : `password changed; ${r.sessionsEnded} session(s) ended, ${r.tokensKept} API token(s) kept (gameday token list / revoke)`);
      return 0;
    }
    case "list": {
      const { users } = await api<{ users: UserRecord[] }>(connection(f), "GET", API.users);
      if (f.json) out(JSON.stringify(users, null, 2));
      else users.forEach((u) => out(row(u)));
      return 0;
    }
    case "reset": {
      const user = needName();
      const conn = connection(f);
      const password = await withPasswords(newPassword);
      const r = await api<{ sessionsEnded: number; tokensKept: number }>(conn, "POST", API.userPassword(user), { password });
      out(f.json ? JSON.stringify(r) : `password of ${user} set; ${r.sessionsEnded} session(s) ended, ${r.tokensKept} API token(s) kept`);
      return 0;
    }
    case "disable":
    case "enable": {
      const user = needName();
      const { user: u } = await api<{ user: UserRecord }>(connection(f), "POST", sub === "disable" ? API.userDisable(user) : API.userEnable(user));
      out(f.json ? JSON.stringify(u, null, 2) : sub === "disable" ? `disabled ${u.username}: sessions ended, tokens revoked, login refused` : `enabled ${u.username}: they may log in again`);
      return 0;
    }
    default:
      throw new CliError(`unknown user command "${sub}"\n\n${USAGE}`);
  }
}
