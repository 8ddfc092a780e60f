"""Dataset builders that rebuild training data from installed registry packages."""
