"""The application layer: the workflows behind ``vitzoo train/eval/predict/embed/export`` as plain functions.

They sit above the backends and the public API; the CLI (:mod:`vitzoo.cli`) and ``vitzoo.train`` & co. call them.
"""
