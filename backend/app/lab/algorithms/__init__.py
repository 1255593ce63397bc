"""Lab algorithms and their immutable code versions: tables, service and routes."""
