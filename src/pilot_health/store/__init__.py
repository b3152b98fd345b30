"""The store: the one class that owns the DuckDB file (`database.Store`), the SQL on its tables (`queries`), its
migrations and its backups."""
