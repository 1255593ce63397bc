"""Coinspot API credentials: encrypted storage, validation against the exchange, audit."""
