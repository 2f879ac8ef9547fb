"""``python -m sessionward.examples.multilane_bot``: run the bot (HTTP API), chat in the terminal, or the demo.

    python -m sessionward.examples.multilane_bot                 # the HTTP API on 127.0.0.1:8765
    python -m sessionward.examples.multilane_bot --terminal      # chat in the terminal (the API runs too)
    python -m sessionward.examples.multilane_bot --demo --duration 10 --no-live
    python -m sessionward.examples.multilane_bot --provider openai   # OPENAI_BASE_URL, OPENAI_MODEL, OPENAI_API_KEY
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import tempfile
import threading
from pathlib import Path

from sessionward import Runtime
from sessionward.errors import BadInputError
from sessionward.examples.multilane_bot.bot import DEFAULT_CONFIG, Bot, load_bot_config, runtime_config
from sessionward.examples.multilane_bot.http_api import BotServer
from sessionward.examples.multilane_bot.persona import make_provider
from sessionward.examples.multilane_bot.terminal import run_terminal
from sessionward.examples.multilane_bot.traffic import start_timer_lanes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sessionward.examples.multilane_bot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--terminal", action="store_true", help="chat in the terminal")
    parser.add_argument("--demo", action="store_true", help="run the demo with scripted traffic")
    parser.add_argument("--duration", type=float, default=30.0, help="demo: seconds of traffic")
    parser.add_argument("--no-live", action="store_true", help="demo: plain status lines")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="the bot's TOML")
    parser.add_argument("--store", type=Path, help="session store (default: a temporary directory)")
    parser.add_argument("--provider", choices=["scripted", "openai"], default="scripted")
    parser.add_argument("--base", choices=["tcp", "simple"], default="tcp", help="Thespian base")
    parser.add_argument("--host", help="HTTP host (default from the TOML: 127.0.0.1)")
    parser.add_argument("--port", type=int, help="HTTP port (default from the TOML; 0: a free one)")
    parser.add_argument("--user", default="you", help="terminal: your user name")
    args = parser.parse_args(argv)
    # SIGTERM (``kill``, ``timeout``) unwinds like Ctrl-C, so the runtime closes and no
    # actor process is left behind.
    signal.signal(signal.SIGTERM, _exit_on_signal)

    if args.demo:
        from sessionward.examples.multilane_bot.demo import run_demo

        summary = run_demo(args.duration, live=not args.no_live, store=args.store, base=args.base,
                           config_path=args.config, provider=args.provider)
        return 0 if summary.replies_lost == 0 else 1

    try:
        config = load_bot_config(args.config)
        provider = make_provider(args.provider, config.settings)
    except (BadInputError, ImportError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = config.settings
    with contextlib.ExitStack() as stack:
        store = args.store or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="multilane-bot-")))
        rt = stack.enter_context(Runtime(store, provider=provider, base=args.base, config=runtime_config(config)))
        bot = Bot(rt, config)
        stack.callback(bot.close)
        host = args.host or settings.host
        port = settings.port if args.port is None else args.port
        server = stack.enter_context(BotServer(bot, host, port).start())
        stack.callback(start_timer_lanes(bot).stop)
        for warning in bot.warnings:
            print(f"note: {warning}", file=sys.stderr)
        print(f"multilane bot on {server.url} (store {store})", file=sys.stderr)
        if args.terminal:
            run_terminal(bot, user=args.user)
        else:
            print(f"  curl -s -X POST {server.url}/users/alice/messages -d '{{\"text\": \"hi\"}}'\n"
                  f"  curl -s '{server.url}/turns/<request_id>?wait=10'\n"
                  "Ctrl-C to stop.", file=sys.stderr)
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()
    return 0


def _exit_on_signal(signum, _frame) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
