"""Console scripts shipped with the library: ``analytics-migrate`` and ``analytics-api``.

Top of the import graph: nothing in the library imports ``cli``. (``analytics-demo`` lives in
``demo.command``, beside the demo it runs.)
"""
