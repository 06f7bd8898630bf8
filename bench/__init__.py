"""Benchmarks of issue 7: `python -m bench` runs all six, each in a fresh interpreter.

Everything runs on loopback against moto (in-process, or moto_server on 127.0.0.1) and the
sandbox platform. Benchmarks report figures next to a baseline; they never fail on time.
"""
