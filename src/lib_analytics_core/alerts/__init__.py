"""Alerts: SLO burn-rate and threshold rules over the stored events, with their webhooks.

Owns the alerting file format (:mod:`.rules`, TOML read with the standard library), the
burn-rate arithmetic of the SRE workbook's multiwindow alerts (:mod:`.burn`), the
per-minute counts an SLO is evaluated from (:mod:`.rollup`), the threshold measures
(:mod:`.threshold`, through ``read.explore``), the alert state, history and delivery
outbox in the database (:mod:`.store`, tables of migration 0017), the webhook delivery
(:mod:`.deliver`) and one evaluation (:mod:`.engine`), which ``cli.alerts``, the API and
the elected maintainer call.

Imports ``_errors``, ``_db``, ``events`` (the event type names), ``schema.facts`` (table
names, lock keys) and ``read`` (explore, filters, the execution point); never imports
``api``, ``cli``, ``demo``, ``collect``, ``bus`` or ``ingest`` (checked by the
import-linter contract in ``pyproject.toml``). ``httpx`` (the ``alerts`` extra) is
imported only by :mod:`.deliver`.
"""

from __future__ import annotations

from .rules import AlertConfig, AlertConfigError, Slo, Threshold, Webhook, load_config, parse_config

__all__ = [
    "AlertConfig",
    "AlertConfigError",
    "Slo",
    "Threshold",
    "Webhook",
    "load_config",
    "parse_config",
]
