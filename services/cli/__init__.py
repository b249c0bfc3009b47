"""The ``sinergi`` command: stack, demo, timeline."""
