"""The repository's tools: scripts run as `python -m tools.<name>` from the
repository root (the Makefile's targets), and the notebook checks the tests and
the scaffold share (`tools.nbchecks`, `tools.browser`). Not part of the course
package the notebooks import."""
