// Reads a session file with pi's own SessionManager and prints what pi sees, as one JSON line:
// {"version", "entries", "leafId", "messages": [{"role", "text"}...], "lines": <file lines after>}
// Usage: node pi_read.mjs <session.jsonl>
// SessionManager.open migrates an old file and rewrites it: callers pass a copy.
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { SessionManager } from "@mariozechner/pi-coding-agent";

const file = process.argv[2];
const manager = SessionManager.open(file, dirname(file));
const context = manager.buildSessionContext();
const text = (content) =>
  typeof content === "string"
    ? content
    : Array.isArray(content)
      ? content.filter((b) => b && b.type === "text").map((b) => b.text).join("")
      : "";
const header = manager.getHeader ? manager.getHeader() : null;
process.stdout.write(
  JSON.stringify({
    version: header ? header.version : null,
    entries: manager.getEntries().length,
    leafId: manager.getLeafId ? manager.getLeafId() : null,
    messages: context.messages.map((m) => ({ role: m.role, text: text(m.content ?? m.summary) })),
    lines: readFileSync(file, "utf8").split("\n").filter((l) => l.trim()).length,
  }) + "\n",
);
