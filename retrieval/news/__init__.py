"""News features: briefings (stories, quotes of the day) and their schedules."""
