"""The demo: a simulated platform driven through the real client and worker.

Apart from the library on purpose (procrastinate keeps ``procrastinate_demo`` apart):
nothing in the library imports it. ``command`` is the ``analytics-demo`` entry point.
"""
