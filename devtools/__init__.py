"""Development tools shared by the demo, the tests and the bench; not part of the wheel."""
