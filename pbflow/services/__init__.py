"""Use-case functions outside the workflow engine (accounts, organizations, people).

Each function is one transaction and records its audit event(s); pages, the API and the CLI
all call these, never the models directly.
"""
