"""Benchmarks: each module here defines ``add_arguments(parser)`` and ``run(args)`` and
becomes ``mrf bench MODULE``.  They print tables of measured figures (medians of
repeated runs); they are not tests and assert nothing about speed."""
