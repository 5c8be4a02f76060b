"""The alerting file (alerts/rules.py): the issue's example parses to frozen rules, and
every mistake is reported with its line, before anything runs (CLI exit 2)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from lib_analytics_core.alerts import AlertConfigError, parse_config
from lib_analytics_core.alerts.rules import parse_duration

EXAMPLE = """\
[[webhook]]
name = "ops"
url = "http://127.0.0.1:9000/hook"

[[slo]]
name = "platform-availability"
service = "platform"          # optional: endpoint = "/v1/tasks", method = "POST"
kind = "availability"         # good = status_code < 500
objective = 0.995
window = "30d"
notify = ["ops"]

[[slo]]
name = "platform-latency"
service = "platform"
kind = "latency"              # good = duration_ms <= threshold_ms
threshold_ms = 300
objective = 0.99
notify = ["ops"]

[[threshold]]
name = "task-failures"
event_type = "task_failed"    # any event type, custom ones included
measure = "count"             # or distinct_users, error_rate, p95 of a numeric field, ...
above = 100                   # or below =
over = "1h"
notify = ["ops"]
"""


def test_issue_example_parses_to_frozen_rules() -> None:
    cfg = parse_config(EXAMPLE)
    assert [w.name for w in cfg.webhooks] == ["ops"]
    avail, latency = cfg.slos
    assert avail.kind == "availability" and avail.objective == 0.995
    assert avail.window == dt.timedelta(days=30) and avail.service == "platform"
    assert latency.threshold_ms == 300 and latency.window == dt.timedelta(days=30)  # default
    (rule,) = cfg.thresholds
    assert rule.event_type == "task_failed" and rule.above == 100 and rule.below is None
    assert rule.over == dt.timedelta(hours=1) and rule.notify == ("ops",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        avail.objective = 0.5  # type: ignore[misc]
    # A changed definition is a new rollup key; the same one is stable.
    assert avail.key() == parse_config(EXAMPLE).slos[0].key()
    assert avail.key() != dataclasses.replace(avail, service="other").key()


@pytest.mark.parametrize(
    ("edit", "line", "message"),
    [
        (("objective = 0.99\n", "objective = 0.99\ntreshold_ms = 5\n"), 19, "unknown key"),
        (('window = "30d"', 'window = "30 days"'), 10, "bad duration"),
        (('over = "1h"', 'over = "1x"'), 26, "bad duration"),
        (('notify = ["ops"]\n\n[[slo]]', 'notify = ["pager"]\n\n[[slo]]'), 11, "unknown webhook"),
        (('kind = "availability"', 'kind = "uptime"'), 8, "kind must be"),
        (("objective = 0.995", "objective = 1.5"), 9, "objective"),
        (("threshold_ms = 300", "threshold_ms = -1"), 17, "threshold_ms"),
        (('measure = "count"', 'measure = "p95"'), 24, "needs a numeric field"),
        (('measure = "count"', 'measure = "median"'), 24, "unknown measure"),
        (("above = 100", "above = 100\nbelow = 3"), 21, "exactly one of"),
        (('url = "http://127.0.0.1:9000/hook"', 'url = "ftp://x"'), 3, "http"),
        (('name = "ops"', 'name = "ops"\nsecret = 1'), 3, "unknown key"),
    ],
)
def test_mistakes_are_reported_with_their_line(
    edit: tuple[str, str], line: int, message: str
) -> None:
    old, new = edit
    assert old in EXAMPLE
    text = EXAMPLE.replace(old, new, 1)
    with pytest.raises(AlertConfigError, match=message) as info:
        parse_config(text, path="alerts.toml")
    assert info.value.line == line, str(info.value)
    assert f"alerts.toml:{line}:" in str(info.value)


def test_syntax_errors_and_top_level_keys_have_lines() -> None:
    with pytest.raises(AlertConfigError, match="not valid TOML") as info:
        parse_config(EXAMPLE + "\n[[slo]\n")
    assert info.value.line == EXAMPLE.count("\n") + 2
    with pytest.raises(AlertConfigError, match="unknown key 'alerts'") as info:
        parse_config("alerts = 1\n" + EXAMPLE)
    assert info.value.line == 1
    with pytest.raises(AlertConfigError, match="two rules are named"):
        parse_config(EXAMPLE.replace('"platform-latency"', '"platform-availability"'))


def test_measures_filters_and_environment_urls() -> None:
    cfg = parse_config(
        """
[[webhook]]
name = "slack"
url_env = "SLACK_HOOK"

[[threshold]]
name = "slow-checkout"
event_type = "checkout_completed"
measure = "p95"
field = "duration_ms"
filters = ["service:eq:shop", "amount:gt:0"]
above = 800
over = "15m"
severity = "ticket"
notify = ["slack"]

[[threshold]]
name = "api-errors"
event_type = "api_request"
measure = "error_rate"
above = 0.05
""",
        environ={"SLACK_HOOK": "https://hooks.slack.example/T/B/secret"},
    )
    slow, errors = cfg.thresholds
    assert slow.measure == "p95" and slow.field == "duration_ms" and len(slow.filters) == 2
    assert slow.severity == "ticket" and slow.over == dt.timedelta(minutes=15)
    assert errors.error_when is not None and str(errors.error_when) == "status_code:gt:499"
    assert cfg.webhooks[0].url.endswith("/secret")
    with pytest.raises(AlertConfigError, match="SLACK_HOOK is not set"):
        parse_config('[[webhook]]\nname = "s"\nurl_env = "SLACK_HOOK"\n', environ={})
    with pytest.raises(AlertConfigError, match="filters") as info:
        parse_config(
            '[[threshold]]\nname = "x"\nevent_type = "e"\nfilters = ["a:zz:1"]\nabove = 1\n'
        )
    assert info.value.line == 4


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("5m", 300), ("1h", 3600), ("30d", 2592000), ("2w", 1209600)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "0m", "1.5h", "h", "10", "-1d", "1y", 5])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(text)


def test_cli_rejects_a_bad_file_before_touching_a_database(tmp_path: Path) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text(EXAMPLE.replace('window = "30d"', 'window = "a month"'))
    for command in ("check", "evaluate", "run"):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "lib_analytics_core.cli.alerts",
                command,
                "--config",
                str(path),
                *(
                    ["--database-url", "postgresql://nobody@127.0.0.1:1/x"]
                    if command != "check"
                    else []
                ),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        assert f"{path}:10: window: bad duration" in proc.stderr
    path.write_text(EXAMPLE)
    ok = subprocess.run(
        [sys.executable, "-m", "lib_analytics_core.cli.alerts", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0 and "2 SLOs, 1 threshold rules, 1 webhooks: OK" in ok.stdout


def test_cli_without_httpx_names_the_extra_before_anything_runs(tmp_path: Path) -> None:
    from lib_analytics_core._extras import install_hint

    from .test_console_scripts import run_script

    path = tmp_path / "alerts.toml"
    path.write_text(EXAMPLE)
    proc = run_script(
        tmp_path,
        "analytics-alerts",
        ["evaluate", "--config", str(path)],
        "httpx",
        DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in output, output
    assert install_hint("alerts") in " ".join(output.split()), output
    assert run_script(tmp_path, "analytics-alerts", ["--help"], "httpx,fastapi").returncode == 0


@pytest.mark.parametrize(
    ("measure", "ok"),
    [("p90", True), ("p99.9", True), ("p1", True), ("p100", False), ("p0", False), ("p9x", False)],
)
def test_any_percentile_of_a_field(measure: str, ok: bool) -> None:
    text = (
        f'[[threshold]]\nname = "x"\nevent_type = "e"\nmeasure = "{measure}"\n'
        'field = "duration_ms"\nabove = 1\n'
    )
    if ok:
        assert parse_config(text).thresholds[0].measure == measure
    else:
        with pytest.raises(AlertConfigError, match="unknown measure") as info:
            parse_config(text)
        assert info.value.line == 4


def test_cli_unreachable_database_exits_3_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text(EXAMPLE)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lib_analytics_core.cli.alerts",
            "evaluate",
            "--config",
            str(path),
            "--database-url",
            "postgresql://nobody@127.0.0.1:1/none",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 3, proc.stderr
    assert "database unreachable" in proc.stderr and "Traceback" not in proc.stderr
