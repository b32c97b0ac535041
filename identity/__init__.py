"""Unified identity: accounts, sign-in and identity tokens (issue #4; nothing here yet)."""
