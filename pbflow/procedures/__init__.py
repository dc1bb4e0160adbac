"""The procedures pbflow runs, one package each: what only that procedure needs."""
