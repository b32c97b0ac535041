"""govtrust."""
