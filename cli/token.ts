// gameday token: API tokens for the CLI, CI jobs and agents — create (the
// secret is printed once), list (never the secret), revoke. An operator
// manages their own; an admin anyone's.
import { parseArgs } from "node:util";
import { API, type TokenInfo } from "../lib/contract";
import { api, CLIENT_OPTIONS, CliError, connection } from "./client";

const USAGE = `gameday token — API tokens

  gameday token create NAME [--expires 90d] [--user NAME] [--json]
                               a new token (printed once; store it now). --expires:
                               30m, 12h, 30d ... up to 366d (default 90d); --user:
                               for another user (admin only)
  gameday token list [--json]  your tokens (an admin sees every user's)
  gameday token revoke ID      revoke one (ID from the list); its open sockets close

Options: --url URL --token TOKEN (as for every gameday command)`;

const out = (s: string) => process.stdout.write(s + "\n");

function row(t: TokenInfo): string {
  const expires = t.expiresAt ? `expires ${t.expiresAt.slice(0, 16).replace("T", " ")}` : "never expires";
  return `${t.id}  ${t.status.padEnd(7)}  ${t.username.padEnd(12)}  ${t.name}  (${t.status === "revoked" ? `revoked ${t.revokedAt!.slice(0, 16).replace("T", " ")}` : expires}; last used ${t.lastUsedAt?.slice(0, 16).replace("T", " ") ?? "never"})`;
}

export async function main(argv: string[]): Promise<number> {
  const { values: f, positionals: pos } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      expires: { type: "string" },
      user: { type: "string" },
      ...CLIENT_OPTIONS,
    },
  });
  const [sub, arg] = pos;
  if (!sub || f.help) {
    out(USAGE);
    return f.help ? 0 : 1;
  }
  switch (sub) {
    case "create": {
      if (!arg) throw new CliError("name the token: gameday token create NAME");
      const body = { name: arg, ...(f.expires ? { expiresIn: f.expires } : {}), ...(f.user ? { username: f.user } : {}) };
      const r = await api<{ token: string; info: TokenInfo }>(connection(f), "POST", API.tokens, body);
      if (f.json) out(JSON.stringify(r, null, 2));
      else out(`${r.token}\n\ntoken ${r.info.id} "${r.info.name}" for ${r.info.username}, expires ${r.info.expiresAt}; shown once: store it now (GAMEDAY_TOKEN or --token)`);
      return 0;
    }
    case "list": {
      const { tokens } = await api<{ tokens: TokenInfo[] }>(connection(f), "GET", API.tokens);
      if (f.json) out(JSON.stringify(tokens, null, 2));
      else if (!tokens.length) out("no tokens");
      else tokens.forEach((t) => out(row(t)));
      return 0;
    }
    case "revoke": {
      if (!arg) throw new CliError("name the token to revoke: gameday token revoke ID (see gameday token list)");
      const { info } = await api<{ info: TokenInfo }>(connection(f), "DELETE", API.token(arg));
      out(f.json ? JSON.stringify(info, null, 2) : `revoked ${info.id} "${info.name}" of ${info.username}`);
      return 0;
    }
    default:
      throw new CliError(`unknown token command "${sub}"\n\n${USAGE}`);
  }
}
