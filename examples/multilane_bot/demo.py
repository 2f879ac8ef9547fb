"""The demo: the bot under scripted traffic, a live status view, then a summary.

What runs, for ``duration`` seconds:

- the bot (``bot.toml``) on a ``Runtime`` with fast recovery thresholds, and its HTTP API
  on a free loopback port;
- the heartbeat (every ~3 s, in the main session) and the ``digest`` cron job (every 5 s);
- seven scripted people on the HTTP API (``traffic.DEFAULT_CLIENTS``): three direct-message
  users and two #general posters, all in the main session with the heartbeat, one of them
  asking for long replies that stream for seconds; two #random posters sending bursts
  that the collect mode merges;
- one cron run that hangs on purpose, about a second in: recovery notices the stalled
  stream, asks its owner to abort it, and the owner fails it as ``stalled`` and goes on.
  Nothing re-fires it.

Then the traffic stops, every client waits for the replies it is owed, every turn gets its
outcome, and the summary is printed and returned. ``replies_lost`` is 0 unless something
is broken.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

from sessionward import RecoveryConfig, Runtime
from sessionward.examples.multilane_bot.bot import DEFAULT_CONFIG, Bot, load_bot_config, runtime_config
from sessionward.examples.multilane_bot.http_api import BotServer
from sessionward.examples.multilane_bot.live import StatusSnapshot, plain_line, render, take_snapshot
from sessionward.examples.multilane_bot.persona import make_provider
from sessionward.examples.multilane_bot.summary import DemoSummary, format_summary, summarize
from sessionward.examples.multilane_bot.traffic import Traffic, inject_stuck_run, start_timer_lanes

__all__ = ["DemoSummary", "run_demo"]

DEMO_RECOVERY = RecoveryConfig(recovery_tick=0.5, stall_after=1.5, abort_after=3.0)
"""Thresholds short enough for the stuck run to be aborted within a few seconds; a healthy
stream makes progress every few tens of milliseconds."""
STUCK_RUN_AT = 1.0
"""When the stuck cron run is injected (seconds into the run)."""
SAMPLE_EVERY = 0.25
"""How often the status is queried (seconds); the live table redraws each time."""
PLAIN_EVERY = 2.0
"""How often ``--no-live`` prints a status line (seconds)."""
DRAIN_TIMEOUT = 60.0
"""Longest wait for the replies still owed when the traffic stops (seconds)."""


def run_demo(
    duration: float = 30.0,
    live: bool = True,
    store: Path | None = None,
    base: str = "tcp",
    *,
    config_path: Path = DEFAULT_CONFIG,
    provider: str = "scripted",
    stuck_run: bool = True,
    seed: int = 0,
    out: TextIO | None = None,
) -> DemoSummary:
    """Run the bot with scripted traffic for ``duration`` seconds, print a summary, return it.

    Args:
        duration: Seconds of traffic (the drain afterwards adds a few).
        live: Draw a rich live table; else print a plain status line every 2 s.
        store: The session store (default: a temporary directory, removed afterwards).
        base: The Thespian base: ``tcp`` (an OS process per actor) or ``simple``.
        config_path: The bot's TOML.
        provider: ``scripted`` or ``openai`` (``OPENAI_*`` environment variables).
        stuck_run: Inject one hanging cron run for recovery to abort (scripted provider only).
        seed: Seeds the clients' think times and the heartbeat's jitter.
        out: Where to print (default stdout).
    """
    out = out or sys.stdout
    config = load_bot_config(config_path)
    with contextlib.ExitStack() as stack:
        if store is None:
            store = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sessionward-demo-")))
        rt = stack.enter_context(Runtime(
            store, provider=make_provider(provider, config.settings), base=base,
            config=runtime_config(config, recovery=DEMO_RECOVERY)))
        bot = Bot(rt, config)
        stack.callback(bot.close)
        server = stack.enter_context(BotServer(bot, config.settings.host, 0).start())
        timers = start_timer_lanes(bot)
        stack.callback(timers.stop)
        traffic = Traffic(server.url, seed=seed).start()
        stack.callback(traffic.stop)
        print(f"bot on {server.url}, store {store}, base {base}, provider {provider}", file=out)

        started = time.monotonic()
        # Only the scripted persona hangs on cue; a real model would just answer.
        stuck = stuck_run and provider == "scripted"
        max_depth, last = _watch(rt, bot, started, duration, live, stuck, out)
        if live:
            print(file=out)  # the live table leaves the cursor on its last line
        traffic.stop()
        traffic.join(DRAIN_TIMEOUT)
        timers.stop()
        bot.wait_all(DRAIN_TIMEOUT)
        server.wait_idle(DRAIN_TIMEOUT)  # every reply written is recorded as delivered
        final = take_snapshot(rt, bot, time.monotonic() - started)
        exchanges = traffic.exchanges()
        summary = summarize(
            bot.views(),
            duration_seconds=duration,
            recovery_actions=final.recovery_counts or last.recovery_counts,
            sessions=len(final.sessions),
            max_queue_depth=max(max_depth, final.max_queue_depth),
            client_problems=sum(not e.answered for e in exchanges if e.http_status == 202),
        )
        if not live:
            print(plain_line(final), file=out)
        print(format_summary(summary, bot.main_key), file=out)
        return summary


def _watch(rt: Runtime, bot: Bot, started: float, duration: float, live: bool, stuck_run: bool,
           out: TextIO) -> tuple[int, StatusSnapshot]:
    """Show the status until ``duration`` has passed; return the deepest queue seen and the
    last snapshot. Injects the stuck run on the way."""
    max_depth = 0
    injected = not stuck_run
    next_line = PLAIN_EVERY
    snapshot = StatusSnapshot(0.0)
    with contextlib.ExitStack() as stack:
        view = None
        if live:
            from rich.console import Console
            from rich.live import Live

            view = stack.enter_context(Live(render(snapshot), console=Console(file=out),
                                            refresh_per_second=4, transient=False))
        while (elapsed := time.monotonic() - started) < duration:
            if not injected and elapsed >= STUCK_RUN_AT:
                inject_stuck_run(bot)
                injected = True
            # Pacing the view, not synchronising anything: each pass queries afresh.
            time.sleep(min(SAMPLE_EVERY, duration - elapsed))
            elapsed = time.monotonic() - started
            snapshot = take_snapshot(rt, bot, elapsed)
            max_depth = max(max_depth, snapshot.max_queue_depth)
            if view is not None:
                view.update(render(snapshot))
            elif elapsed >= next_line:
                print(plain_line(snapshot), file=out, flush=True)
                next_line += PLAIN_EVERY
    return max_depth, snapshot
