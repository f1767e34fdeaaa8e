"""Emulated Bluetooth LE health wearables: bumble GATT servers on one in-process link."""
