"""National identifiers and rules of the Latvian data-entry standard."""
