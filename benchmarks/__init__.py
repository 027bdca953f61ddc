"""Benchmarks of the osteopenia-cds service: `make bench` (python -m benchmarks).

In-process cost per patient-view request against its JSON floor, HTTP throughput under
gunicorn beside a bare Flask baseline and a HealthChain peer, and fall-back fetch latency
against the real test FHIR server. Raw results go to benchmarks/results/<timestamp>.json.
"""
