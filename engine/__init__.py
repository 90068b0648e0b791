"""phasegate's engine: plans, events, the fold, the store and the run loop. Never imports a UI."""

__version__ = "0.1.0"
