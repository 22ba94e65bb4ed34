"""Discord: /ask and /brief, mentions answered in a thread, DMs, the 👍 / 👎 buttons,
scheduled briefings, and followed stories (/follow, /following, /unfollow; each story's posts
in a thread started from its first).

Imports go one way: `adapter` (run by bot/service.py) and `admin` (`briefbot discord sync`) →
`client` (events in) → `commands`, `presses` (buttons), `registration` → `replies` (what the
conversation says, sent on the client's loop) → `send` → `render` (embeds, buttons); `translate`
turns Discord's objects into the conversation's terms; `errors` and `settings` are below all.
"""

PLATFORM = "discord"  # the conversation's key for it: votes, claims, schedules, allow-lists
