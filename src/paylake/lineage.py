"""Names of the bookkeeping columns paylake adds to rows: where a row came from and which batch wrote it.

User columns are identifiers that start with a letter, so these underscore names can never collide with them.
"""

SOURCE_FILE = "_source_file"  # landing file name
SOURCE_ROW = "_source_row"  # 1-based data row number within that file
EXTRACT_DATE = "_extract_date"  # extract date from the file name
BATCH_ID = "_batch_id"  # deterministic id of the batch that wrote the row
INGESTED_AT = "_ingested_at"  # audit timestamp (wall clock), never used by business logic
