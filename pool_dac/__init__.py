"""pool_dac package."""
