"""A multi-lane chat bot embedding sessionward: a heartbeat, two group channels, direct
messages and a cron job on one agent, from ``bot.toml``.

Modules, from the bottom up:

- ``persona``: the providers (the scripted persona by default, or an OpenAI-compatible
  endpoint) and the markers the persona reacts to.
- ``delivery``: ``Delivery`` (what the bot owes for one turn, live) and ``TurnView``
  (its frozen snapshot).
- ``bot``: the configuration and ``Bot`` (submits turns on their lanes and keeps every
  ``Delivery`` until its reply reached a client).
- ``http_api``: the JSON API on loopback (``BotServer``).
- ``terminal``: the interactive terminal mode.
- ``traffic``: the heartbeat and cron timers, and the scripted HTTP clients of the demo.
- ``summary``: turn counts and the demo's ``DemoSummary``.
- ``live``: status snapshots, the rich live table and the plain status line.
- ``demo``: ``run_demo``.

Run it: ``python -m sessionward.examples.multilane_bot`` (HTTP API), ``--terminal`` (chat in the
terminal), or ``sessionward demo`` (the demo with scripted traffic).
"""
