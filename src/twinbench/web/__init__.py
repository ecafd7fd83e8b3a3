"""Browser deployment: a local static server, a headless Chromium, and one page per runtime.

Nothing here imports a deep-learning framework: the export-web scenario converts the model in
its worker, then this package serves the files on 127.0.0.1 and reads back what the page measured.
"""
