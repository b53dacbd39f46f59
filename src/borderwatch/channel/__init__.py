"""The coordination channel: signed envelopes, released per party, stored durably, audited.

Entry points: `create_deployment(scenario, out_dir)` / `load_deployment(path)`,
`Store(url, deployment)` with `publish`, `fetch`, `acknowledge`, and
`verify(store, deployment)` for the audit chain.
"""

from __future__ import annotations

__all__ = ["Acknowledgement", "AuditReport", "ChainHead", "Delivery", "Deployment", "Envelope",
           "GroupCommitter", "KINDS", "PartyIdentity", "Policy", "Problem", "Receipt", "Store",
           "create_deployment", "load_deployment", "make_envelope", "verify"]

_HOME = {"AuditReport": "audit", "Problem": "audit", "verify": "audit",
         "Acknowledgement": "store", "ChainHead": "store", "Delivery": "store", "Receipt": "store",
         "Store": "store",
         "GroupCommitter": "group_commit",
         "Deployment": "deployment", "create_deployment": "deployment",
         "load_deployment": "deployment",
         "Envelope": "envelope", "KINDS": "envelope", "make_envelope": "envelope",
         "PartyIdentity": "keys", "Policy": "policy"}


def __getattr__(name: str):
    # Imported on first use so that `borderwatch.channel.<module>` stays cheap to import.
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(f"borderwatch.channel.{_HOME[name]}"), name)
    raise AttributeError(name)
