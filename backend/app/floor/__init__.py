"""The Floor: deployments of releases, executed on paper or on Coinspot."""
