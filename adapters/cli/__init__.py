"""The ``pronghorn`` command line: one entry point, verbs in their own modules."""
