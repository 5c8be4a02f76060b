"""Configuration defaults are pinned; invalid values fail once, at construction."""

from __future__ import annotations

from pathlib import Path

import pytest

from lib_analytics_core import AnalyticsClient, AnalyticsConfig, ConfigurationError, WorkerConfig


def test_defaults_are_pinned() -> None:
    c = AnalyticsConfig()
    assert c.batch_size == 100
    assert c.flush_interval_secs == 10.0
    assert c.max_batch_size == 20_000
    assert c.queue_capacity == 100_000
    assert c.max_event_bytes == 65_536
    assert c.shutdown_timeout_secs == 10.0
    assert c.spool_dir is None
    assert c.spool_max_bytes == 256 * 1024 * 1024
    assert c.write_method == "auto"
    assert c.service_name == "unknown"
    assert c.enabled is True


def test_seed_constructor_shape() -> None:
    client, cfg = AnalyticsClient.new(100, 10)
    assert isinstance(cfg, WorkerConfig)
    assert cfg.settings.batch_size == 100
    assert cfg.settings.flush_interval_secs == 10
    assert cfg.channel is client.worker_config().channel
    client2, cfg2 = AnalyticsClient.new(batch_size=7, flush_interval_secs=0.5, service_name="auth")
    assert cfg2.settings.service_name == "auth"
    assert client2.metadata.service == "auth"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 10, "max_batch_size": 5}, "batch_size"),
        ({"flush_interval_secs": 0}, "flush_interval_secs"),
        ({"queue_capacity": 10, "max_batch_size": 100, "batch_size": 10}, "queue_capacity"),
        ({"write_method": "bulk"}, "write_method"),
        ({"service_name": ""}, "service_name"),
        ({"sample_rates": {"api_request": 0.0}}, "sample rate"),
        ({"sample_rates": {"api_request": 1.5}}, "sample rate"),
        ({"initial_backoff_secs": 5, "max_backoff_secs": 1}, "backoff"),
        ({"batch_size": True}, "batch_size"),
    ],
)
def test_invalid_values_raise(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        AnalyticsConfig(**kwargs)  # type: ignore[arg-type]


def test_from_env_reads_once_and_overrides_win(tmp_path: Path) -> None:
    env = {
        "ANALYTICS_SERVICE_NAME": "signaling",
        "ANALYTICS_ENVIRONMENT": "staging",
        "ANALYTICS_RELEASE": "abc123",
        "ANALYTICS_BATCH_SIZE": "250",
        "ANALYTICS_SPOOL_DIR": str(tmp_path),
        "ANALYTICS_ENABLED": "false",
    }
    c = AnalyticsConfig.from_env(env, batch_size=300)
    assert (c.service_name, c.environment, c.release) == ("signaling", "staging", "abc123")
    assert c.batch_size == 300
    assert c.spool_dir == tmp_path
    assert c.enabled is False
    with pytest.raises(ConfigurationError, match="ANALYTICS_BATCH_SIZE"):
        AnalyticsConfig.from_env({"ANALYTICS_BATCH_SIZE": "many"})
