"""Home gateway: Bluetooth SIG health profiles to Kafka, never losing a reading."""
