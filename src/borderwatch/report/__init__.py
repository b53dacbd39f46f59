"""Summaries, maps and (later) reports about a scenario and its plan."""
