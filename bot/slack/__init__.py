"""Slack: mentions answered in their thread, DMs, Slack's assistant pane, /ask and /brief, the
👍 / 👎 and Share buttons, scheduled briefings, and followed stories (/follow, /following,
/unfollow; each story's posts in its own thread).

Imports go one way: `adapter` (run by bot/service.py) → `app` → `listeners` (payloads in) →
`replies` (what the conversation says, sent) → `render` (Block Kit) and `translate`; `app` also
uses `client` and `settings`, `adapter` the `http_server`.
"""

PLATFORM = "slack"  # the conversation's key for it: votes, claims, schedules, allow-lists
