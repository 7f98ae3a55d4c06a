"""Views of the containers app: member pages in `member`, administrators' pages in `manage_*`."""
