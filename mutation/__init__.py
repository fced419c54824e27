"""Mutation testing of jaxdl's numerical and bookkeeping core (mutmut 3): see docs/testing.md."""
