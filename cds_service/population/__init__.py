"""Population care gaps: the patient-view rules over a FHIR Bulk Data export, on Apache Spark.

The pure parts (reading one NDJSON line, evaluating one patient, rendering the summary) need
no Spark; ``job`` wires them into a Spark job and ``cli`` into ``osteopenia-cds population``.
"""
