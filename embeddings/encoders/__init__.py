"""Model loading and export: open_clip towers, the ONNX text tower, and which encoder a process uses."""
