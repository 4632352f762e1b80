"""Tests of greeksmargin.analysis."""
