"""Unpaired image translation that keeps identity: MUNIT-style networks with SATNet's additions, an identity loss."""
