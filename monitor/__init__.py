"""Stream processor: scores readings per patient and turns them into explained, de-duplicated alerts."""
