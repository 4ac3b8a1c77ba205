"""Watching cameras: one reader per stream (`reader`), people tracked across frames (`tracking`), each camera's
loop from newest frame to counts (`watcher`), the counts on their way to the database (`count_buffer`), what the
database keeps, SQLite or PostgreSQL (`store`), cameras from a file (`config`), zones and lines (`zones`), opening
hours (`hours`), `manager` running them all and sharing them among replicas, and their REST routes (`api`)."""
