"""Watches: each watch's query over newly stored items, its alerts (mail, webhook, Atom, notify) delivered once each."""
