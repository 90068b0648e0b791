"""The command line: `phasegate ...` (click). `main` is the entry point; each command imports
what it needs when it runs, so that `phasegate --help` and a headless run stay fast."""
