"""FAQ answers people can trust: match a question to an entry, or abstain honestly (issue 5)."""
