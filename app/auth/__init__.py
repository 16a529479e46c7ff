"""Users, roles, API tokens, browser sessions and the programme scope."""
