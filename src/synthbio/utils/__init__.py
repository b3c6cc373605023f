"""Small helpers with no model knowledge: seeds, devices, hashing, atomic writes."""
