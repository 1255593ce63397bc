"""The platform's audit log: who did what to which object, when, and from where."""
