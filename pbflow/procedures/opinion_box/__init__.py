"""The opinion box (DOMAIN.md section 4): anyone drops an opinion, the organization answers."""
