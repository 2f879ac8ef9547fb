"""The interactive terminal mode: chat with the bot as one user, on any of its lanes.

Each line is a direct message, unless it starts with ``#<channel>`` (a post in that
channel) or is a command. Replies stream in as they are written. Heartbeat and cron turns
run in the background meanwhile; ``/status`` shows every session, its lane and queue.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from sessionward.errors import SessionwardError
from sessionward.examples.multilane_bot.bot import Bot
from sessionward.examples.multilane_bot.delivery import Delivery
from sessionward.examples.multilane_bot.persona import LONG_MARKER

HELP = f"""\
  <text>              a direct message (it goes to the main session)
  #<channel> <text>   a post in a group channel (#general shares the main session)
  {LONG_MARKER} <text>        ask for a long reply (scripted provider), then type more meanwhile
  /status             every live session: state, running lane, queue
  /help               this text
  /quit               leave (Ctrl-D too)"""


def run_terminal(bot: Bot, *, user: str = "you", read_line: Callable[[str], str] = input,
                 out: TextIO | None = None) -> None:
    """Read lines until ``/quit`` or end of input; answer each one.

    Args:
        bot: The bot to talk to.
        user: Who you are (a session key segment).
        read_line: Reads one line after printing a prompt (``input``); raises ``EOFError``
            at the end.
        out: Where replies go (default stdout).
    """
    out = out or sys.stdout
    channels = ", ".join(f"#{c.id}" for c in bot.agent.channels)
    print(f"Chatting as {user}. Channels: {channels}. /help for commands.", file=out)
    while True:
        try:
            line = read_line(f"{user}> ").strip()
        except (EOFError, KeyboardInterrupt):
            print(file=out)
            return
        if not line:
            continue
        if line in ("/quit", "/exit"):
            return
        if line == "/help":
            print(HELP, file=out)
        elif line == "/status":
            print(status_text(bot), file=out)
        else:
            try:
                delivery = _post(bot, user, line)
            except SessionwardError as exc:
                print(f"  error: {exc}", file=out)
                continue
            print_reply(delivery, out)


def _post(bot: Bot, user: str, line: str) -> Delivery:
    if line.startswith("#"):
        channel, _, text = line[1:].partition(" ")
        return bot.post_to_channel(channel, user, text.strip())
    return bot.post_direct(user, line)


def print_reply(delivery: Delivery, out: TextIO) -> None:
    """Stream a turn's reply to ``out`` as it arrives, then say how it ended if not completed."""
    print("bot> ", end="", file=out, flush=True)
    index = 0
    while True:
        deltas, done = delivery.wait_deltas(index, 1.0)
        for text in deltas:
            print(text, end="", file=out, flush=True)
        index += len(deltas)
        if done:
            break
    view = delivery.view()
    if index == 0 and view.reply:
        # A merged message streams nothing of its own: its reply is the carrier's.
        print(view.reply, end="", file=out)
    if view.status == "completed":
        delivery.mark_delivered()
        print(file=out)
    else:
        print(f"[{view.status}: {view.reason}] {view.detail}", file=out)


def status_text(bot: Bot) -> str:
    """Every live session in one line each."""
    lines = []
    for s in bot.runtime.sessions():
        running = f"running {s.lane}" if s.lane else s.state
        queued = f", queued {', '.join(s.queued_lanes)}" if s.queued_lanes else ""
        keys = f" (+{len(s.keys) - 1} bound)" if len(s.keys) > 1 else ""
        lines.append(f"  {s.session_key}{keys}: {running}{queued}; {s.turns_completed} done,"
                     f" {s.turns_failed} failed, {s.heartbeats_skipped} heartbeats skipped")
    return "\n".join(lines) or "  no live sessions"
