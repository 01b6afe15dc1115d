"""Image acquisition and decoding: IIIF downloads, the image and pixel caches, PIL and device decoding."""
