"""deploy/: the env example is the settings models', and the Dockerfile, the compose file and
the systemd units agree with each other and with the command line they start."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml
from pydantic_settings import BaseSettings
from typer.testing import CliRunner

from bot import cli
from bot.cli import envfile
from retrieval.config import PROJECT_ROOT, Settings

DEPLOY = PROJECT_ROOT / "deploy"
SERVICES = ("slack", "discord", "watcher")


def test_the_committed_env_example_is_the_generated_one():
    """Regenerate with `briefbot env-example > deploy/env.example`."""
    assert (DEPLOY / "env.example").read_text() == envfile.env_example()


def test_the_env_example_lists_every_setting_with_its_default():
    text = (DEPLOY / "env.example").read_text()
    for name, info in Settings.model_fields.items():
        value, _ = envfile.default_text(info)
        assert f"\n#BRIEFBOT_{name.upper()}={value}\n" in text, name
    for secret in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "DISCORD_TOKEN"):
        assert f"\n#{secret}=\n" in text
    assert "\n#BRIEFBOT_CONFIG=\n" in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_a_setting_without_a_meaning_is_refused(monkeypatch):
    class Undocumented(BaseSettings):
        model_config = {"env_prefix": "BRIEFBOT_", "use_attribute_docstrings": True}
        new_knob: int = 3

    monkeypatch.setattr(envfile, "_sections", lambda: [("x", Undocumented)])
    with pytest.raises(envfile.MissingMeaning, match="Undocumented.new_knob"):
        envfile.env_example()


def test_env_example_command_prints_it():
    result = CliRunner().invoke(cli.app, ["env-example"])
    assert result.exit_code == 0 and result.stdout == envfile.env_example()


# -- the Dockerfile --------------------------------------------------------------------------
def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of each instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in (raw.strip() for raw in text.splitlines())
        if line and not line.startswith("#")
    ]


def test_the_image_pins_cpu_torch_as_pyproject_does():
    pins = [
        r
        for r in tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"][
            "dependencies"
        ]
        if r.startswith("torch")
    ]
    assert pins == ["torch==2.13.0"]
    runs = " ".join(args for op, args in dockerfile() if op == "RUN")
    assert '"torch==2.13.0"' in runs and "download.pytorch.org/whl/cpu" in " ".join(
        args for op, args in dockerfile() if op == "ARG"
    )
    assert "torch.version.cuda is None" in runs  # a CUDA build fails the build


def test_the_image_runs_offline_as_a_user_and_checks_its_health():
    steps = dockerfile()
    final = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM") :]
    env = " ".join(args for op, args in final if op == "ENV")
    assert "HF_HUB_OFFLINE=1" in env and "BRIEFBOT_HEALTH_PORT=8080" in env
    assert ("USER", "10001:10001") in final  # briefbot, not root
    assert "useradd --system --uid 10001 --gid 10001" in " ".join(a for _, a in final)
    assert ("ENTRYPOINT", '["briefbot"]') in final
    [health] = [args for op, args in final if op == "HEALTHCHECK"]
    command = shlex.split(health.split(" CMD ", 1)[1].split("||")[0])
    assert command[:2] == ["briefbot", "health"]
    # The command the HEALTHCHECK runs is one the CLI takes.
    url = "http://127.0.0.1:1/health"
    args = [a.replace('"http://127.0.0.1:${BRIEFBOT_HEALTH_PORT}/health"', url) for a in command]
    result = CliRunner().invoke(cli.app, [*args[1:-1], url])
    assert result.exit_code == 1 and result.stdout == ""  # --quiet; nothing listens there


# -- compose and systemd ---------------------------------------------------------------------
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def unit_command(service: str) -> list[str]:
    text = (DEPLOY / "systemd" / f"briefbot-{service}.service").read_text()
    [line] = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart="))


@pytest.mark.parametrize("service", SERVICES)
def test_compose_and_the_units_start_the_same_commands(service):
    spec = compose()["services"][service]
    command = unit_command(service)
    assert command[0] == "/opt/briefbot/bin/briefbot"
    assert command[1:] == spec["command"]
    assert "--if-configured" in command  # started only when it has something to do
    assert spec["restart"] == "on-failure"  # so an exit 0 for "nothing to do" stays down
    assert spec["environment"]["BRIEFBOT_CHROMA_URL"] == "http://chroma:8000"
    assert "briefbot-data:/var/lib/briefbot" in spec["volumes"]
    assert spec["depends_on"]["chroma"]["condition"] == "service_healthy"


@pytest.mark.parametrize("service", SERVICES)
def test_each_command_is_one_the_cli_takes(service):
    command = compose()["services"][service]["command"]
    result = CliRunner().invoke(cli.app, [*command, "--help"])
    assert result.exit_code == 0, result.output


def test_the_grace_period_fits_inside_the_stop_timeouts():
    grace = Settings.model_fields["shutdown_grace_s"].default
    assert compose()["x-briefbot"]["stop_grace_period"] == "40s" and grace < 40
    for service in SERVICES:
        text = (DEPLOY / "systemd" / f"briefbot-{service}.service").read_text()
        assert "TimeoutStopSec=40" in text and "Restart=on-failure" in text
        assert "User=briefbot" in text and "StateDirectory=briefbot" in text


def test_chroma_keeps_its_data_in_a_named_volume():
    chroma = compose()["services"]["chroma"]
    assert chroma["entrypoint"] == ["chroma"]
    assert "chroma-data:/var/lib/chroma" in chroma["volumes"]
    assert "chroma-data" in compose()["volumes"]
    assert Path(chroma["command"][chroma["command"].index("--path") + 1]) == Path("/var/lib/chroma")
