"""`plan eval`: the protocol, the run, results tables and figures."""
