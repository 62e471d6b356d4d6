"""Model definitions and loading: open_clip models with the project's own configs."""
