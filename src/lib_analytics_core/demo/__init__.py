"""The demo: a simulated platform driven through the real client and worker.

Apart from the library on purpose (procrastinate keeps ``procrastinate_demo`` apart):
nothing in the library imports it. ``command`` is the ``analytics-demo`` entry point;
``simulate`` runs the simulated calendar through the clients and workers, drawing its
events from ``_behaviour`` (what users and the background do) over ``_model`` (the
platform's endpoints, providers, errors and user tiers, as data).
"""
