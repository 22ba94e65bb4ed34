import subprocess
import sys

import pytest

from retrieval.config import load_settings
from retrieval.errors import SettingsError


@pytest.mark.parametrize(
    "env, name",
    [
        ({"BRIEFBOT_CHUNK_TOKENS": "999"}, "BRIEFBOT_CHUNK_TOKENS"),
        ({"BRIEFBOT_CHUNK_TOKENS": "many"}, "BRIEFBOT_CHUNK_TOKENS"),
        ({"BRIEFBOT_CHROMA_URL": "localhost:8000"}, "BRIEFBOT_CHROMA_URL"),
        ({"BRIEFBOT_MIN_RELEVANCE": "2"}, "BRIEFBOT_MIN_RELEVANCE"),
        ({"BRIEFBOT_COLLECTION": "a b"}, "BRIEFBOT_COLLECTION"),
        ({"DISCORD_GUILD_ID": "abc"}, "DISCORD_GUILD_ID"),
    ],
)
def test_invalid_settings_name_the_setting(monkeypatch, env, name):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SettingsError, match=name):
        load_settings(_env_file=None)


def test_missing_model_path_is_named(tmp_path):
    s = load_settings(_env_file=None, model_path=tmp_path)
    with pytest.raises(SettingsError, match="BRIEFBOT_MODEL_PATH"):
        _ = s.resolved_model_path


def test_dotenv_is_read(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("BRIEFBOT_COLLECTION=from-dotenv\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings().collection == "from-dotenv"


def test_secrets_never_print(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret")
    s = load_settings(_env_file=None)
    assert "xoxb-very-secret" not in repr(s) and "xoxb-very-secret" not in str(s.model_dump())
    assert s.slack_bot_token.get_secret_value() == "xoxb-very-secret"


def test_engine_never_imports_chat_platforms():
    code = (
        "import sys, retrieval.engine, retrieval.answering.answer, retrieval.index.search,"
        " retrieval.intake.ingest;"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('slack_bolt','slack_sdk','discord')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
