"""Watches: each watch's query over newly stored items, and its alerts (mail, webhook, Atom) delivered once each."""
