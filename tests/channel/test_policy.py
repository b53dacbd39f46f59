"""Policy: release list ∩ the deployment's rules, and always the sender."""

from __future__ import annotations

import pytest

from borderwatch.channel.policy import Policy
from borderwatch.errors import ChannelError


def test_recipients_are_release_list_cap_rules_plus_sender(deployment, ids):
    policy = deployment.policy
    everyone = list(deployment.party_ids)
    # A sighting: the scenario releases detections to Iraq and the US only.
    s = ids["us"].seal("sighting", {"x": 1}, releasable_to=everyone)
    assert policy.recipients(s) == ("iq-mod", "us")
    assert policy.withheld(s) == ("sy-gov", "sdf", "tr")
    # A breach alert may go to everyone, but the sender can narrow it.
    b = ids["iq-mod"].seal("breach", {"x": 1}, releasable_to=["us"])
    assert policy.recipients(b) == ("iq-mod", "us")
    # The sender always gets its own, even when the rules would not send it that kind.
    t = ids["tr"].seal("track", {"x": 1}, releasable_to=["iq-mod", "sy-gov"])
    assert policy.recipients(t) == ("iq-mod", "tr")
    assert policy.withheld(t) == ("sy-gov",)


def test_turkey_is_never_a_recipient_of_kinds_not_released_to_it(deployment, ids):
    for kind in ("sighting", "track"):
        for sender in ("iq-mod", "us", "sdf"):
            env = ids[sender].seal(kind, {"k": kind}, releasable_to=list(deployment.party_ids))
            assert "tr" not in deployment.policy.recipients(env)


def test_kinds_missing_from_the_scenario_go_to_the_owner_only(tiny):
    policy = Policy.from_scenario(tiny)
    # tiny.toml releases breach_alert, track and plan only: no detections, no sitreps.
    assert policy.rules["sighting"] == {"east"}
    assert policy.rules["text"] == {"east"}
    assert policy.rules["breach"] == {"east", "west", "ally"}


def test_policy_round_trips_and_validates(deployment):
    policy = deployment.policy
    assert Policy.from_dict(policy.to_dict(), policy.parties, "x") == policy
    rules = policy.to_dict()["rules"]
    del rules["track"]
    with pytest.raises(ChannelError, match=r'x.rules.track: missing \(every kind needs a rule'):
        Policy.from_dict({"owner": "iq-mod", "rules": rules}, policy.parties, "x")
