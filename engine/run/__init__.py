"""The run loop and its parts: scheduling, attempts, gates, operator control, fallbacks,
monitoring and take-over. The loop (`loop.Runner`) holds the parts; each part takes what it needs
of the others through a small protocol.

May import every other engine package; nothing else of the engine imports it.
"""
