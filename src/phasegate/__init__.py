"""phasegate: run multi-agent work as a plan, with phases, quality gates and a person in control.

The installed import package. Its two parts are the repository's top-level folders, linked
here: `phasegate.engine` (engine/: the core, which never imports a front end) and
`phasegate.tui` (tui/: the command line and the dashboard). Nothing else is installed at the
top level of site-packages.
"""
