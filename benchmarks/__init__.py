"""The benchmark harness for sessionward and the baselines it is measured against.

Layering, lowest first (a module imports only from the layers above it in this list):

1. Pure pieces, no threads and no sessionward: ``workload`` (the seeded incident mix),
   ``check`` (what the transcripts on disk say), ``stats`` (nearest-rank percentiles),
   ``row`` (one result record per system).
2. ``baselines``: runnable models of the two designs sessionward replaces: the lock file
   released around every provider stream (``lock_release``) and one in-process lock per
   session (``inprocess_lock``). They run turns on threads and write real transcripts.
3. ``run_baselines``: drives a baseline through the workload and turns the files on disk
   into a ``Row``.
4. ``table``: prints rows and writes ``results/<name>.json``.
5. ``__main__`` (later): ties the workloads, the baselines and sessionward together.
"""
