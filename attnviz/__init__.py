"""attnviz's Python side for users: `attnviz.client` talks to a running server (or the app in-process)."""
