"""Model export routes: from a framework's twin to the files another runtime loads.

Each module imports its framework lazily, inside the worker that already owns it.
"""
