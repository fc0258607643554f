"""Worker wiring: settings, Temporal client, registration, graceful shutdown."""
