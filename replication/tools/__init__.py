"""Command-line tools that are not pipeline stages: data fetching, compare, whatif."""
