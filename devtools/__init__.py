"""Development tools: the demo supervisor and the embedded PostgreSQL server of a development checkout.

Nothing in museum_site or the apps imports this package; manage.py, the tests and the benchmarks may.
"""
