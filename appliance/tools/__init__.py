"""Tools that measure the box: `parlo bench` (speed, memory) and `parlo eval` (what it says).

They ship in the package with their data (``tools/data/``), so they work on an
installed box, not only in a checkout. Their results are written under ``bench/results/``
in the repository by whoever runs them.
"""
