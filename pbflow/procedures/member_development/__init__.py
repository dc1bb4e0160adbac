"""Developing a new member (DOMAIN.md section 1): five stages, 25 steps."""
