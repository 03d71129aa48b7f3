"""`make deploy` / `make destroy`: the resources stack, migrations, Chalice and what it lacks."""
