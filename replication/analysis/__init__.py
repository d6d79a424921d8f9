"""From results to judgements: the results tables, seed groups, z scores, the claims, fidelity."""
