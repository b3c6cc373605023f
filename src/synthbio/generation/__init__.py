"""Seeds -> z -> w -> images: the sampling conventions of the official tools."""
