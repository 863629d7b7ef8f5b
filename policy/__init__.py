"""A Pulumi policy pack (CrossGuard) for Azure Container Apps session pools and their grants.

`pulumi preview --policy-pack policy` runs it with the engine; `python -m policy check --stack NAME` runs it over
what this project's program registers for a committed stack, under the mock runtime.
"""
