"""What is outside this machine, played on localhost for the tests: Slack (tests/fakes/slack.py)
and Discord (tests/fakes/discord.py). Nothing of the project is faked."""
