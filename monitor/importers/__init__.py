"""Importers of real-world glucose formats to the Reading contract, with counted, line-numbered bad rows."""
