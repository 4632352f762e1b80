"""Tests of greeksmargin.accounts."""
