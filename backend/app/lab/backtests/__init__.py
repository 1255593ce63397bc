"""Backtest runs and parameter sweeps: queued jobs that feed the sandbox's positions into the
trusted engine and keep the results (see DEVELOPMENT.md, "Backtest runs and sweeps")."""
