import pytest

from bot.discord.settings import DiscordSettings
from bot.slack.settings import SlackSettings
from retrieval.config import load_settings, read_settings
from retrieval.errors import SettingsError


@pytest.mark.parametrize(
    "env, name",
    [
        ({"BRIEFBOT_CHUNK_TOKENS": "999"}, "BRIEFBOT_CHUNK_TOKENS"),
        ({"BRIEFBOT_CHUNK_TOKENS": "many"}, "BRIEFBOT_CHUNK_TOKENS"),
        ({"BRIEFBOT_CHROMA_URL": "localhost:8000"}, "BRIEFBOT_CHROMA_URL"),
        ({"BRIEFBOT_MIN_RELEVANCE": "2"}, "BRIEFBOT_MIN_RELEVANCE"),
        ({"BRIEFBOT_COLLECTION": "a b"}, "BRIEFBOT_COLLECTION"),
        ({"BRIEFBOT_LLM_BASE_URL": "http://"}, "BRIEFBOT_LLM_BASE_URL"),
        ({"BRIEFBOT_LLM": "gpt-4o"}, "BRIEFBOT_LLM"),
        ({"BRIEFBOT_LLM_RETRIES": "50"}, "BRIEFBOT_LLM_RETRIES"),
    ],
)
def test_invalid_settings_name_the_setting(monkeypatch, env, name):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SettingsError, match=name):
        load_settings(_env_file=None)


@pytest.mark.parametrize(
    "cls, env, name",
    [
        (DiscordSettings, {"DISCORD_GUILD_ID": "abc"}, "DISCORD_GUILD_ID"),
        (SlackSettings, {"BRIEFBOT_SLACK_API_URL": "slack.com/api"}, "BRIEFBOT_SLACK_API_URL"),
    ],
)
def test_invalid_chat_settings_name_the_variable(monkeypatch, cls, env, name):
    """The chat platforms' settings live with their adapters, under the same variables."""
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SettingsError, match=name):
        read_settings(cls, _env_file=None)


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
    monkeypatch.setenv("DISCORD_TOKEN", "discord-very-secret")
    slack = read_settings(SlackSettings, _env_file=None)
    assert "xoxb-very-secret" not in repr(slack) and "xoxb-very-secret" not in str(
        slack.model_dump()
    )
    assert slack.slack_bot_token.get_secret_value() == "xoxb-very-secret"
    discord = read_settings(DiscordSettings, _env_file=None)
    assert "discord-very-secret" not in repr(discord) + str(discord.model_dump())
    assert discord.discord_token.get_secret_value() == "discord-very-secret"


def test_the_engine_settings_hold_no_chat_platform():
    fields = set(load_settings(_env_file=None).model_dump())
    assert not [f for f in fields if f.startswith(("slack", "discord"))]


def test_a_replaced_llm_setting_is_named_with_what_replaced_it(monkeypatch):
    from retrieval.config import load_settings
    from retrieval.errors import SettingsError

    monkeypatch.setenv("BRIEFBOT_LLM_URL", "http://localhost:8000/v1")
    with pytest.raises(SettingsError, match="BRIEFBOT_LLM_URL is no longer read: use BRIEFBOT_LLM"):
        load_settings()
