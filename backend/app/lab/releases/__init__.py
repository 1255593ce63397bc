"""Promotion: the gate from a Lab algorithm to a frozen, checked release the Floor can run."""
