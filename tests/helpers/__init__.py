"""Programs the tests run in a process of their own."""
