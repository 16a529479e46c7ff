"""Reference data: programmes, organisations, teams and admin areas."""
