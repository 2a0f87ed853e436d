"""The ``zonestats`` command line: the top of the stack, one module per command group.

Nothing imports this package but its console script (``cli.launch:main``) and ``python -m cli``.
"""
