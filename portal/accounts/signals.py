"""Account events other blueprints react to, so accounts never imports them.

Receivers are called inside the same transaction as the change that sent the signal.
"""

from blinker import Namespace

_signals = Namespace()

# sender: the app; kwargs: user, newsletter (bool: the signup checkbox)
user_signed_up = _signals.signal("user-signed-up")
# sender: the app; kwargs: user
user_confirmed = _signals.signal("user-confirmed")
# sender: the app; kwargs: user — sent before the row is deleted; receivers erase their data
user_deleting = _signals.signal("user-deleting")
