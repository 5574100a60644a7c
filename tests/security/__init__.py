"""The attack suite of issue 14: each test replays one way Qorgau was attacked and checks that it is
refused or harmless."""
