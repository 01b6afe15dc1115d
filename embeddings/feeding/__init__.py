"""Feeding the image tower: one pixel source per way of turning artworks into model-ready pixels."""
