"""The maze world: SORB's maps and the point environment."""
