"""BFCL-based measurement of the prompting styles: ``toolproxy eval`` and ``bench/bfcl_bench.py``.

Modules: ``bfcl`` (questions from bfcl-eval's data), ``checker`` (BFCL's own AST / multi-turn checkers),
``client`` (a strict OpenAI client), ``runner`` (resumable per-question records), ``report`` (table, JSON, chart),
``server`` (a child ``toolproxy serve``), ``cli`` (``toolproxy eval``), ``best`` (``--style auto-best``).
"""
