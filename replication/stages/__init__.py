"""The pipeline's stages, one module each (`python -m replication.stages.NAME`; dvc.yaml runs them)."""
