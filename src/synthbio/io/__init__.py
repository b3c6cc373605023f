"""On-disk formats: PNG images, JSON-lines manifests, HDF5 sample collections."""
