"""The daily digest: build, summarise, archive, render (HTML, Markdown, text, JSON, Atom) and mail."""
