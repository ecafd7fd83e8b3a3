"""Distributed training: each framework's own launcher runs the study's twin on W processes.

The ``distributed`` scenario (``scenarios/distributed.py``) runs in an ordinary worker; it writes a
``RankSpec`` and the data and initial weights to the job's folder, then starts the framework's
documented launcher (``launch.py``: torchrun, Lightning's DDP launcher, ``TF_CONFIG`` workers,
``keras.distribution.initialize`` processes). Each rank is a module of this package run with
``python -m``; it pins itself, sets its thread knobs before its framework is imported, trains,
and writes ``rank<r>.json`` (``rank_common.RankLog``). Everything binds to 127.0.0.1.
"""
