"""Pages every feature uses: home and the health check."""
