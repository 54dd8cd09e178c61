"""Volume review: ``scan`` (resumable batches), ``report`` (the HTML review page), the results file.

>>> from forensics.batch import read_results
>>> df = read_results("results.jsonl")     # a pandas DataFrame with pandas installed, else a list of dicts

``forensics.batch.read_results`` gives one flat record per file (``forensics.batch.results.flatten``:
verdict, headline, basis, P(AI), per-signal contributions and scores, error type and message);
``forensics.batch.results.read_results`` gives the rows as written, nested as in the schema.
"""

from .results import read_table as read_results

__all__ = ["read_results"]
