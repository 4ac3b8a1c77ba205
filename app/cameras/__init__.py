"""Watching cameras: one reader per stream (`reader`), people tracked across frames (`tracking`), each camera's
loop from newest frame to counts (`watcher`), the cameras kept in SQLite (`store`) and from a file (`config`),
`manager` running them all, `sharding` dividing them among replicas, and their REST routes (`api`)."""
