"""Identity: recognisers behind one protocol, references and variations over a generator."""
