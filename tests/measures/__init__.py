"""Tests of greeksmargin.measures."""
