"""Releasability: who receives an envelope.

Two parties decide together. The sender names, in the signed envelope, the
parties it releases the message to; the deployment's rules name, per kind
of message, the parties that may receive that kind at all (taken from the
scenario's ``[releasability]`` table). An envelope goes to the parties in
both lists — the sender can narrow the rules, never widen them — and always
back to its sender.

Everything that shows a party envelopes (fetch, get, search, count,
acknowledgements) goes through the recipient rows this policy produced at
publish time, so a party never sees, lists, searches or counts what is not
released to it.

Scenario files name releasability kinds in the planner's words
(``breach_alert``, ``detection``, ``sitrep`` …); `SCENARIO_KIND` says
which of them governs each envelope kind. A kind the scenario does not
mention is released to the owner only (deny by default).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ..errors import ChannelError
from .envelope import KINDS, Envelope

SCENARIO_KIND: Mapping[str, str] = MappingProxyType({
    "sighting": "detection",
    "track": "track",
    "breach": "breach_alert",
    "request": "sitrep",
    "acknowledgement": "sitrep",
    "text": "sitrep",
})
"""Envelope kind → the scenario releasability kind that governs it, when the
scenario has no entry under the envelope kind's own name."""


@dataclass(frozen=True, slots=True)
class Policy:
    """The deployment's rules: for each envelope kind, the parties that may receive it."""

    parties: tuple[str, ...]
    owner: str
    rules: Mapping[str, frozenset[str]]

    def __post_init__(self) -> None:
        known = set(self.parties)
        if self.owner not in known:
            raise ChannelError(f'policy: owner "{self.owner}" is not a party')
        for kind in KINDS:
            if kind not in self.rules:
                raise ChannelError(f'policy: no rule for kind "{kind}"')
        for kind, allowed in self.rules.items():
            if kind not in KINDS:
                raise ChannelError(f'policy: rules.{kind}: unknown kind (one of {", ".join(KINDS)})')
            for pid in sorted(allowed - known):
                raise ChannelError(f'policy: rules.{kind}: unknown party "{pid}"')
        object.__setattr__(self, "rules", MappingProxyType(
            {k: frozenset(self.rules[k]) for k in KINDS}))

    @classmethod
    def from_scenario(cls, scenario: Any) -> "Policy":
        """The rules a scenario's ``[releasability]`` table implies (see `SCENARIO_KIND`)."""
        owner = scenario.owner.id
        rules = {}
        for kind in KINDS:
            source = scenario_source(scenario, kind)
            rules[kind] = frozenset(scenario.released_to(source) if source else (owner,))
        return cls(tuple(p.id for p in scenario.parties), owner, rules)

    def allowed(self, kind: str) -> frozenset[str]:
        """Parties the rules let receive `kind` at all."""
        try:
            return self.rules[kind]
        except KeyError:
            raise ChannelError(f'unknown envelope kind "{kind}"') from None

    def recipients(self, envelope: Envelope) -> tuple[str, ...]:
        """Who receives `envelope`: (its release list ∩ the rules for its kind) ∪ its sender.

        Sorted, so that the stored and hashed form is canonical.
        """
        allowed = self.allowed(envelope.kind)
        out = {p for p in envelope.releasable_to if p in allowed}
        out.add(envelope.sender)
        return tuple(sorted(out))

    def withheld(self, envelope: Envelope) -> tuple[str, ...]:
        """Parties the sender released to but the rules refuse (for the sender's receipt)."""
        allowed = self.allowed(envelope.kind)
        return tuple(p for p in envelope.releasable_to if p not in allowed and p != envelope.sender)

    def to_dict(self) -> dict[str, Any]:
        """The ``[policy]`` table of ``deployment.toml``."""
        return {"owner": self.owner,
                "rules": {k: [p for p in self.parties if p in self.rules[k]] for k in KINDS}}

    @classmethod
    def from_dict(cls, data: Any, parties: Iterable[str], where: str) -> "Policy":
        """Read `to_dict`'s form; errors name `where` (``deployment.toml: policy``)."""
        parties = tuple(parties)
        if not isinstance(data, Mapping):
            raise ChannelError(f"{where}: must be a table")
        extra = sorted(set(data) - {"owner", "rules", "sources"})
        if extra:
            raise ChannelError(f"{where}: unknown key {extra[0]!r}")
        owner = data.get("owner")
        if not isinstance(owner, str) or owner not in parties:
            raise ChannelError(f"{where}.owner: must name one of the parties ({', '.join(parties)})")
        table = data.get("rules")
        if not isinstance(table, Mapping):
            raise ChannelError(f"{where}.rules: missing, or not a table")
        rules: dict[str, frozenset[str]] = {}
        for kind, ids in table.items():
            if kind not in KINDS:
                raise ChannelError(f"{where}.rules.{kind}: unknown kind (one of {', '.join(KINDS)})")
            if not isinstance(ids, list) or not all(isinstance(p, str) for p in ids):
                raise ChannelError(f"{where}.rules.{kind}: must be a list of party ids")
            for i, pid in enumerate(ids):
                if pid not in parties:
                    raise ChannelError(f'{where}.rules.{kind}[{i}]: unknown party "{pid}" '
                                       f"(known: {', '.join(parties)})")
            rules[kind] = frozenset(ids)
        for kind in KINDS:
            if kind not in rules:
                raise ChannelError(f"{where}.rules.{kind}: missing (every kind needs a rule; "
                                   f'["{owner}"] releases it to the owner only)')
        return cls(parties, owner, rules)


def scenario_source(scenario: Any, kind: str) -> str | None:
    """The scenario releasability entry that governs envelope `kind`, if any."""
    if kind in scenario.releasability:
        return kind
    alias = SCENARIO_KIND.get(kind)
    return alias if alias in scenario.releasability else None
