"""P&L of the Floor: FIFO tax lots per deployment and coin, marks, and aggregates."""
