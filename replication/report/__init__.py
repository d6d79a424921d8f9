"""The report: its settings, provenance, template context, figures and rendering."""
