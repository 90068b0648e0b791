"""phasegate's front ends: the command line and (from the dashboard issue on) the Textual app."""
