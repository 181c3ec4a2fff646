"""The start of the fake protocol plugins' source in the protocol-plugin tests: imports and a split into halves."""

HALVES = '''
import numpy as np

from merbench.contracts import Fold, ProtocolPlugin
from merbench.hookspecs import hookimpl


def _halves(subjects):
    ids = sorted(set(subjects))
    first = np.flatnonzero(np.isin(subjects, ids[: len(ids) // 2]))
    second = np.flatnonzero(~np.isin(subjects, ids[: len(ids) // 2]))
    return first, second
'''
