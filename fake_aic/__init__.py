"""An offline stand-in for the Art Institute of Chicago API and IIIF image server (fake_aic/server.py)."""
