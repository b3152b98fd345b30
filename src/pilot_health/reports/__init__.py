"""What people read: report tables, results kept per store version, changes, meetings and decisions, alerts and
their notifications, charts and the steering pack."""
