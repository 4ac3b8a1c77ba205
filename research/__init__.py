"""How the shipped choices were made: scripts that import the product, never imported by it (research/README.md)."""
