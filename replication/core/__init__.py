"""The shared foundation: errors, guarded files, result paths and the stage registry, settings loading."""
