"""Democratic and organizational life meetings (DOMAIN.md section 2), with rectification."""
