"""Test kit for vecstore adapters: the conformance suite (:mod:`.conformance`)."""
