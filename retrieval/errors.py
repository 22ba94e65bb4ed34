"""Errors a user can act on. Front ends show these in plain words; anything else is a bug."""


class BriefbotError(Exception):
    """An error meant to be displayed to the user."""


class SettingsError(BriefbotError):
    """A setting is missing or invalid; the message names it."""


class LoadError(BriefbotError):
    """A file could not be read as an article; the message names the file."""


class QuestionError(BriefbotError):
    """The question itself is unusable (empty, too long)."""


class FollowError(BriefbotError):
    """A follow that can't be made or undone (an empty or too long topic, a bad digest or
    start date, a topic the channel does not follow); the message names the value at fault."""
