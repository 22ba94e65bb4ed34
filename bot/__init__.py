"""Front ends: the CLI, Slack and Discord. Thin adapters over `retrieval.engine.Engine`."""
