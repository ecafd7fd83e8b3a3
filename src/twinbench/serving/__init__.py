"""Serving over HTTP on loopback under open-loop load (the ``serve`` scenario).

Each piece runs in a process of its own, as a deployment would: ``export_main`` (one
framework: builds the twin with the canonical weights, exports its artifacts), ``server_main``
(the neutral aiohttp front end over one backend), ``litserve_main`` and ``rayserve_main`` (the
servers users deploy, as shipped), ``client`` (the open-loop Poisson client). ``control``
starts, pins, watches and stops them; nothing here imports a framework at module level.
"""
