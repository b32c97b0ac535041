"""Offline verification of govtrust artefacts. Imports no other govtrust package."""
