"""The networks and their training: settings, data, architectures, the training loop, weights."""
