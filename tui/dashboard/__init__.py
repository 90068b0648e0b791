"""The Textual dashboard: `app.py` routes, `screens/` and `widgets/` render, `feed.py` tails a
run's events from the store and folds them, `palette.py` lists the palette's commands."""
