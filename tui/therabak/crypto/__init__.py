"""Cryptographic building blocks shared by the envelope and the archive format."""
