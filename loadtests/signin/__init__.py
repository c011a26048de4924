"""The city-size sign-in benchmark's parts (``python -m loadtests.signin_city``): seeding, the open-loop browser
client, the database's own counters, the report."""
