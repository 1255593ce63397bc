"""Reconciliation of the Floor's books with Coinspot (see service.py and DEVELOPMENT.md)."""
