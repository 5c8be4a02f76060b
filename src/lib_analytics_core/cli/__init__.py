"""Console scripts shipped with the library (``analytics-migrate``)."""
